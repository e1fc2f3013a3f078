// Sends producer calls to the node the balancer picks, failing over to
// another node when the call could not have reached the first one (it could
// not connect). A failure whose outcome is unknown (the connection dropped
// after the push was sent) is not retried: it is reported with
// `outcomeUnknown`, so the caller decides whether a duplicate is acceptable.
import type { NodeConnection } from "./connection.js";
import { Code, GmqError, toGmqError } from "./errors.js";
import type { NodePool } from "./pool.js";

export interface FailoverOptions {
  /** Nodes to try before giving up (default 3). */
  maxAttempts: number;
  /** How long to wait for a node to be known at all (default 5000 ms). */
  waitForNodesMs: number;
}

/** May this failure be retried on another node without risking a duplicate? */
export function retryableElsewhere(err: GmqError): boolean {
  return err.code === Code.UNAVAILABLE && !err.outcomeUnknown;
}

export async function withFailover<T>(
  pool: NodePool,
  opts: FailoverOptions,
  fn: (conn: NodeConnection) => Promise<T>,
): Promise<{ result: T; conn: NodeConnection }> {
  const tried = new Set<string>();
  let last: GmqError | undefined;
  for (let attempt = 0; attempt < opts.maxAttempts; attempt++) {
    await pool.waitForNode(opts.waitForNodesMs);
    let conn = pool.pick(tried);
    if (!conn) {
      // Every known node failed once: start over after a pause.
      tried.clear();
      await new Promise((r) => setTimeout(r, 100 * (attempt + 1)));
      conn = pool.pick(tried);
      if (!conn) continue;
    }
    try {
      const result = await fn(conn);
      if (!conn.isUp()) conn.markUp();
      return { result, conn };
    } catch (e) {
      const err = toGmqError(e, conn.key);
      if (!retryableElsewhere(err)) throw err;
      conn.markDown();
      tried.add(conn.key);
      last = err;
    }
  }
  throw last ?? new GmqError(Code.UNAVAILABLE, "no gmq node available");
}
