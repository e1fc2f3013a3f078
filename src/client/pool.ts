// The client's live set of node connections, kept in step with discovery: a
// node that leaves is dropped from producer choice at once (its in-flight
// pushes still settle), a node that joins is connected and announced to
// consumers and subscriptions.
import type { ChannelCredentials, ChannelOptions } from "@grpc/grpc-js";
import { pickByKey, type Balancer } from "./balancer.js";
import { NodeConnection } from "./connection.js";
import type { Discovery } from "./discovery.js";
import { Code, GmqError } from "./errors.js";
import type { NodeInfo } from "./node-info.js";

export interface PoolListener {
  join(conn: NodeConnection): void;
  leave(conn: NodeConnection): void;
}

export class NodePool {
  private readonly conns = new Map<string, NodeConnection>();
  private readonly listeners = new Set<PoolListener>();
  private readonly unsubscribe: () => void;
  private waiters: (() => void)[] = [];
  /** Every node's info, in the order of conns; rebuilt after a join, a leave or a new weight. */
  private infos: NodeInfo[] | undefined;

  constructor(
    private readonly discovery: Discovery,
    private readonly balancer: Balancer,
    private readonly channelOptions: ChannelOptions,
    private readonly callTimeoutMs: number,
    private readonly credentials?: ChannelCredentials,
  ) {
    for (const n of discovery.nodes()) this.add(n);
    this.unsubscribe = discovery.onChange((e) => {
      if (e.type === "join") this.add(e.node);
      else if (e.type === "leave") this.remove(e.node);
      else {
        const c = this.conns.get(e.node.key);
        if (c) {
          c.node = e.node; // a new weight
          this.infos = undefined;
        }
      }
    });
  }

  private add(node: NodeInfo): void {
    if (this.conns.has(node.key)) this.remove(node);
    const conn = new NodeConnection(node, this.channelOptions, this.callTimeoutMs, this.credentials);
    this.conns.set(node.key, conn);
    this.infos = undefined;
    for (const l of this.listeners) l.join(conn);
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  private remove(node: NodeInfo): void {
    const conn = this.conns.get(node.key);
    if (!conn) return;
    this.conns.delete(node.key);
    this.infos = undefined;
    for (const l of this.listeners) l.leave(conn);
    const t = setTimeout(() => conn.rpc.close(), this.callTimeoutMs);
    t.unref();
    void conn.close().finally(() => clearTimeout(t));
  }

  /** Every connected node. */
  all(): NodeConnection[] {
    return [...this.conns.values()];
  }

  get(key: string): NodeConnection | undefined {
    return this.conns.get(key);
  }

  /** Follows joins and leaves; `join` is called at once for every current node. */
  listen(l: PoolListener): () => void {
    this.listeners.add(l);
    for (const c of this.conns.values()) l.join(c);
    return () => this.listeners.delete(l);
  }

  /** The balancer's choice among nodes not excluded and not marked down (or, if all are down, among those not excluded). */
  pick(exclude: ReadonlySet<string>): NodeConnection | undefined {
    const now = Date.now();
    if (exclude.size === 0) {
      // Each push picks: with every node up, no array is built for it.
      let allUp = true;
      for (const c of this.conns.values()) {
        if (!c.isUp(now)) {
          allUp = false;
          break;
        }
      }
      if (allUp) {
        const infos = (this.infos ??= [...this.conns.values()].map((c) => c.node));
        const node = this.balancer.pick(infos);
        return node && this.conns.get(node.key);
      }
    }
    const eligible = this.all().filter((c) => !exclude.has(c.key));
    const up = eligible.filter((c) => c.isUp(now));
    const from = up.length > 0 ? up : eligible;
    const node = this.balancer.pick(from.map((c) => c.node));
    return node && this.conns.get(node.key);
  }

  /** The node for an idempotency key (see pickByKey) among those not excluded, preferring nodes not marked down. */
  pickFor(key: string, exclude: ReadonlySet<string>): NodeConnection | undefined {
    const now = Date.now();
    const eligible = this.all().filter((c) => !exclude.has(c.key));
    const up = eligible.filter((c) => c.isUp(now));
    const node = pickByKey(key, (up.length > 0 ? up : eligible).map((c) => c.node));
    return node && this.conns.get(node.key);
  }

  /** Resolves when at least one node is known, or rejects after `timeoutMs`. */
  async waitForNode(timeoutMs: number): Promise<void> {
    if (this.conns.size > 0) return;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        reject(new GmqError(Code.UNAVAILABLE, `no gmq node available (waited ${timeoutMs} ms)`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(t);
        resolve();
      };
      this.waiters.push(done);
    });
  }

  async close(): Promise<void> {
    this.unsubscribe();
    const conns = this.all();
    this.conns.clear();
    this.infos = undefined;
    // Consumers and subscriptions still open stop using every node.
    for (const c of conns) for (const l of this.listeners) l.leave(c);
    await Promise.all(
      conns.map((c) => {
        const t = setTimeout(() => c.rpc.close(), this.callTimeoutMs);
        return c.close().finally(() => clearTimeout(t));
      }),
    );
    await this.discovery.close();
  }
}
