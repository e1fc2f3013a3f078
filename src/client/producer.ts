// Sends producer calls to the node the balancer picks, failing over to
// another node when the call could not have reached the first one (it could
// not connect). A failure whose outcome is unknown (the connection dropped
// after the push was sent) is not retried: it is reported with
// `outcomeUnknown`, so the caller decides whether a duplicate is acceptable.
// A push with an idempotency key is different: it goes to the node the key
// hashes to, and a failure with an unknown outcome (or a deadline) is retried
// on that same node, whose duplicate window makes the retry safe. Keys are
// remembered per node, so only a retry that must move to another node (the
// first could not be reached) may store a second copy.
import type { NodeConnection } from "./connection.js";
import { Code, GmqError, toGmqError } from "./errors.js";
import type { NodePool } from "./pool.js";

export interface FailoverOptions {
  /** Nodes to try before giving up (default 3). */
  maxAttempts: number;
  /** How long to wait for a node to be known at all (default 5000 ms). */
  waitForNodesMs: number;
}

/** May this failure of a keyed push be retried on the same node? */
function retryableWithKey(err: GmqError): boolean {
  return (err.code === Code.UNAVAILABLE && err.outcomeUnknown) || err.code === Code.DEADLINE_EXCEEDED;
}

/** May this failure be retried on another node without risking a duplicate? */
export function retryableElsewhere(err: GmqError): boolean {
  return err.code === Code.UNAVAILABLE && !err.outcomeUnknown;
}

/** An attempt already made on a node (and failed in a way another node may retry), counted as the first. */
export interface FirstAttempt {
  tried: string;
  err: GmqError;
}

export async function withFailover<T>(
  pool: NodePool,
  opts: FailoverOptions,
  fn: (conn: NodeConnection) => Promise<T>,
  idempotencyKey = "",
  first?: FirstAttempt,
): Promise<{ result: T; conn: NodeConnection }> {
  const tried = new Set<string>();
  let last: GmqError | undefined;
  if (first) {
    tried.add(first.tried);
    last = first.err;
  }
  const pick = () => (idempotencyKey === "" ? pool.pick(tried) : pool.pickFor(idempotencyKey, tried));
  for (let attempt = first ? 1 : 0; attempt < opts.maxAttempts; attempt++) {
    await pool.waitForNode(opts.waitForNodesMs);
    let conn = pick();
    if (!conn) {
      // Every known node failed once: start over after a pause.
      tried.clear();
      await new Promise((r) => setTimeout(r, 100 * (attempt + 1)));
      conn = pick();
      if (!conn) continue;
    }
    try {
      const result = await fn(conn);
      if (!conn.isUp()) conn.markUp();
      return { result, conn };
    } catch (e) {
      const err = toGmqError(e, conn.key);
      if (idempotencyKey !== "" && retryableWithKey(err)) {
        last = err;
        await new Promise((r) => setTimeout(r, 100 * (attempt + 1)));
        continue; // same node: its window answers a push it already stored as a duplicate
      }
      if (!retryableElsewhere(err)) throw err;
      conn.markDown();
      tried.add(conn.key);
      last = err;
    }
  }
  throw last ?? new GmqError(Code.UNAVAILABLE, "no gmq node available");
}
