// Registers a node in etcd: its record under `<prefix><node_id>`, attached to
// a lease kept alive every TTL/3. Creation is atomic (put only if the key's
// create revision is 0), so a second live node with the same id is refused.
// If the lease is lost (etcd down longer than the TTL, or restarted without
// its data) the node registers again by itself, with backoff. close() revokes
// the lease so the key vanishes at once; etcd3's client.close() alone would
// leave the keepalive running (see DEPENDENCIES.md).
import { Etcd3, type IOptions, type Lease } from "etcd3";
import { decodeNodeRecord, encodeNodeRecord, nodeKey, type NodeRecord } from "./node-record.js";

export type { NodeRecord } from "./node-record.js";

/** The logging surface we need; a pino logger fits. */
export interface RegistrationLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface RegisterOptions {
  /** etcd endpoints, "host:port" or URLs. */
  endpoints: string[];
  /** Key prefix, e.g. "/gmq/nodes/". */
  prefix: string;
  /** Lease TTL in seconds: how long a dead node stays registered. */
  leaseTtlS: number;
  node: NodeRecord;
  logger?: RegistrationLogger;
  /** How long the first registration may keep retrying an unreachable etcd (default: max(5 s, TTL)). */
  startTimeoutMs?: number;
}

export interface Registration {
  /** The etcd key holding this node's record. */
  readonly key: string;
  /** Current lease id (changes after a re-registration). */
  leaseId(): string | undefined;
  /** Every node registered under the prefix now (this one included while registered), by id. */
  nodes(): Promise<NodeRecord[]>;
  /** Resolves when the node is registered again after losing its lease (for tests and health). */
  registered(): Promise<void>;
  /** Revokes the lease (the key vanishes at once) and closes the etcd client. Idempotent. */
  close(): Promise<void>;
}

/** A live node already holds this node id. */
export class NodeIdConflictError extends Error {
  override name = "NodeIdConflictError";
}

const silent: RegistrationLogger = { info() {}, warn() {}, error() {} };
const backoffMinMs = 100;
const backoffMaxMs = 2000;

function withScheme(endpoint: string): string {
  return /^[a-z]+:\/\//.test(endpoint) ? endpoint : `http://${endpoint}`;
}

/**
 * No per-host circuit breaker: etcd3's default fails every call for 5 s after
 * three errors, which would delay re-registration after etcd comes back.
 * etcd3 only calls `execute` on the host policy.
 */
function etcdOptions(endpoints: readonly string[]): IOptions {
  type FaultHandling = NonNullable<IOptions["faultHandling"]>;
  const passThrough = { execute: <T>(fn: () => T | Promise<T>) => Promise.resolve().then(fn) };
  return { hosts: endpoints.map(withScheme), dialTimeout: 2000, faultHandling: { host: (() => passThrough) as unknown as FaultHandling["host"] } };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function timeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

class EtcdRegistration implements Registration {
  readonly key: string;
  private readonly value: string;
  private readonly client: Etcd3;
  private readonly log: RegistrationLogger;
  private lease: Lease | undefined;
  private id: string | undefined;
  /** The lease our record was attached to before it was lost. */
  private lostLeaseId: string | undefined;
  private closed = false;
  private loop: Promise<void> = Promise.resolve();
  private wake: (() => void) | undefined;

  constructor(private readonly opts: RegisterOptions) {
    this.key = nodeKey(opts.prefix, opts.node.nodeId);
    this.value = encodeNodeRecord(opts.node);
    this.log = opts.logger ?? silent;
    this.client = new Etcd3(etcdOptions(opts.endpoints));
  }

  leaseId(): string | undefined {
    return this.id;
  }

  registered(): Promise<void> {
    return this.loop;
  }

  async nodes(): Promise<NodeRecord[]> {
    const values = await timeout(this.client.getAll().prefix(this.opts.prefix).strings(), 3000, "listing nodes");
    const records = Object.values(values).flatMap((v) => decodeNodeRecord(v) ?? []);
    return records.sort((a, b) => a.nodeId - b.nodeId);
  }

  /** First registration: retried while etcd is unreachable, refused at once on a conflict. */
  async start(): Promise<void> {
    const deadline = Date.now() + (this.opts.startTimeoutMs ?? Math.max(5000, this.opts.leaseTtlS * 1000));
    let delayMs = backoffMinMs;
    for (;;) {
      try {
        await this.attempt();
        return;
      } catch (err) {
        if (err instanceof NodeIdConflictError || Date.now() >= deadline) {
          await this.shutdownClient();
          if (err instanceof NodeIdConflictError) throw err;
          throw new Error(`cannot register in etcd at ${this.opts.endpoints.join(",")}: ${(err as Error).message}`, { cause: err });
        }
        this.log.warn({ err: (err as Error).message, key: this.key }, "etcd registration failed; retrying");
        await sleep(delayMs);
        delayMs = Math.min(delayMs * 2, backoffMaxMs);
      }
    }
  }

  /** One try: grant a lease, then create the key under it unless another node holds it. */
  private async attempt(): Promise<void> {
    const lease = this.client.lease(this.opts.leaseTtlS);
    lease.on("lost", (err) => this.onLost(lease, err));
    try {
      const leaseId = await timeout(lease.grant(), 3000, "lease grant");
      const res = await timeout(
        this.client
          .if(this.key, "Create", "==", 0)
          .then(this.client.put(this.key).value(this.value).lease(leaseId))
          .else(this.client.get(this.key))
          .commit(),
        3000,
        "registration transaction",
      );
      if (!res.succeeded) {
        const kv = res.responses[0]?.response_range?.kvs[0];
        const held = kv?.value.toString() ?? "";
        // Our own record from before a lost lease may still be there until that
        // lease expires: take it over. Anything else is another node.
        const mine = kv !== undefined && this.lostLeaseId !== undefined && kv.lease === this.lostLeaseId;
        const took =
          mine &&
          (
            await this.client
              .if(this.key, "Mod", "==", kv.mod_revision)
              .then(this.client.put(this.key).value(this.value).lease(leaseId))
              .commit()
          ).succeeded;
        if (!took) {
          throw new NodeIdConflictError(
            `node id ${this.opts.node.nodeId} is already registered in etcd (${this.key} = ${held}); ` +
              `stop that node or start this one with another --node-id`,
          );
        }
      }
      if (this.closed) throw new Error("closed during registration");
      this.lease = lease;
      this.id = leaseId;
      this.log.info({ key: this.key, leaseId, ttlS: this.opts.leaseTtlS }, "registered in etcd");
    } catch (err) {
      lease.removeAllListeners("lost");
      // Not awaited: with etcd unreachable a revoke could stall the retry loop.
      lease.revoke().catch(() => lease.release());
      throw err;
    }
  }

  private onLost(lease: Lease, err: Error): void {
    if (this.closed || lease !== this.lease) return;
    this.lease = undefined;
    this.lostLeaseId = this.id;
    this.id = undefined;
    this.log.warn({ err: err.message, key: this.key }, "etcd lease lost; registering again");
    this.loop = this.reregister();
  }

  private async reregister(): Promise<void> {
    let delayMs = backoffMinMs;
    while (!this.closed) {
      try {
        await this.attempt();
        return;
      } catch (err) {
        if (this.closed) return;
        const level = err instanceof NodeIdConflictError ? "error" : "warn";
        this.log[level]({ err: (err as Error).message, key: this.key }, "etcd re-registration failed; retrying");
        await new Promise<void>((r) => {
          const t = setTimeout(r, delayMs * (0.75 + Math.random() / 2));
          this.wake = () => {
            clearTimeout(t);
            r();
          };
        });
        delayMs = Math.min(delayMs * 2, backoffMaxMs);
      }
    }
  }

  private async shutdownClient(): Promise<void> {
    this.client.close();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wake?.();
    const lease = this.lease;
    this.lease = undefined;
    if (lease) {
      try {
        await timeout(lease.revoke(), 2000, "lease revoke");
        this.log.info({ key: this.key }, "deregistered from etcd");
      } catch (err) {
        // etcd unreachable: stop the keepalive; the key vanishes at its TTL.
        lease.release();
        this.log.warn({ err: (err as Error).message, key: this.key }, "could not revoke etcd lease; it expires at its TTL");
      }
    }
    await this.loop.catch(() => undefined);
    await this.shutdownClient();
  }
}

/**
 * Registers a node in etcd and keeps it registered until close().
 * Rejects with NodeIdConflictError when a live node holds the same id.
 */
export async function register(opts: RegisterOptions): Promise<Registration> {
  if (opts.endpoints.length === 0) throw new Error("register needs at least one etcd endpoint");
  const reg = new EtcdRegistration(opts);
  await reg.start();
  return reg;
}
