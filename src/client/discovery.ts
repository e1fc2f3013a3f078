// Where the client learns which nodes exist: etcd (list the prefix, then watch
// it for nodes joining and leaving) or a fixed address list. When etcd is
// unreachable the last known list stays in use; after the watch reconnects
// the list is read again and reconciled.
import type { Etcd3, IOptions, Watcher } from "etcd3";
import { Code, GmqError } from "./errors.js";
import { parseNodeRecord, staticNode, type NodeInfo } from "./node-info.js";

/** An etcd failure as a GmqError with a readable message. */
export function etcdError(endpoints: readonly string[], err: unknown): GmqError {
  const text = ((err as Error)?.message ?? String(err))
    .replace(/^\d+ [A-Z_]+: /, "")
    .replace(/\.?\s*Resolution note:\s*$/, "");
  return new GmqError(Code.UNAVAILABLE, `cannot read nodes from etcd at ${endpoints.join(",")}: ${text}`, { cause: err });
}

export type DiscoveryEvent = { type: "join" | "update" | "leave"; node: NodeInfo };

export interface Discovery {
  /** The nodes known now. */
  nodes(): NodeInfo[];
  /** Calls `listener` on every join, update and leave; returns an unsubscribe function. */
  onChange(listener: (e: DiscoveryEvent) => void): () => void;
  close(): Promise<void>;
}

/** Default etcd key prefix nodes register under. */
export const defaultEtcdPrefix = "/gmq/nodes/";

abstract class BaseDiscovery implements Discovery {
  protected readonly byKey = new Map<string, NodeInfo>();
  private readonly listeners = new Set<(e: DiscoveryEvent) => void>();
  nodes(): NodeInfo[] {
    return [...this.byKey.values()];
  }
  onChange(listener: (e: DiscoveryEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  protected emit(e: DiscoveryEvent): void {
    for (const l of this.listeners) l(e);
  }
  /** Sets the node stored at `id` (an etcd key or an address), emitting the change. */
  protected set(id: string, node: NodeInfo | undefined): void {
    const old = this.byKey.get(id);
    if (!node) {
      if (old) {
        this.byKey.delete(id);
        this.emit({ type: "leave", node: old });
      }
      return;
    }
    this.byKey.set(id, node);
    if (!old) this.emit({ type: "join", node });
    else if (JSON.stringify(old) !== JSON.stringify(node)) {
      // A new address or start time is a different process: leave, then join.
      if (old.grpcAddr !== node.grpcAddr || old.startedAtMs !== node.startedAtMs) {
        this.emit({ type: "leave", node: old });
        this.emit({ type: "join", node });
      } else this.emit({ type: "update", node });
    }
  }
  abstract close(): Promise<void>;
}

export class StaticDiscovery extends BaseDiscovery {
  /** `addresses`: "host:port", optionally "host:port@weight". */
  constructor(addresses: readonly string[]) {
    super();
    for (const a of addresses) {
      const n = staticNode(a);
      this.byKey.set(n.key, n);
    }
  }
  async close(): Promise<void> {}
}

function withScheme(endpoint: string): string {
  return /^[a-z]+:\/\//.test(endpoint) ? endpoint : `http://${endpoint}`;
}

/** Watch reconnect backoff: 100 ms doubling to 1 s (etcd3's default grows to 30 s). */
class WatchBackoff {
  constructor(readonly duration = 50) {}
  next(): WatchBackoff {
    return new WatchBackoff(Math.min(this.duration * 2, 1000));
  }
}

/**
 * etcd3 options for a client that must notice etcd coming back quickly: no
 * per-host circuit breaker (by default it fails every call for 5 s after three
 * errors) and a short watch backoff. etcd3 only calls `execute` on the host policy.
 */
function etcdOptions(endpoints: readonly string[]): IOptions {
  type FaultHandling = NonNullable<IOptions["faultHandling"]>;
  const passThrough = { execute: <T>(fn: () => T | Promise<T>) => Promise.resolve().then(fn) };
  return {
    hosts: endpoints.map(withScheme),
    dialTimeout: 2000,
    faultHandling: {
      host: (() => passThrough) as unknown as FaultHandling["host"],
      watchBackoff: new WatchBackoff() as unknown as FaultHandling["watchBackoff"],
    },
  };
}

/**
 * etcd3 parses its protos when it is imported (about a quarter of a CLI
 * call's start-up CPU), so it is loaded only by clients that use etcd.
 */
async function connectEtcd(endpoints: readonly string[]): Promise<Etcd3> {
  const { Etcd3 } = await import("etcd3");
  return new Etcd3(etcdOptions(endpoints));
}

export class EtcdDiscovery extends BaseDiscovery {
  private watcher: Watcher | undefined;
  private closed = false;

  private constructor(
    private readonly etcd: Etcd3,
    private readonly prefix: string,
  ) {
    super();
  }

  /** Lists the nodes under `prefix` and starts watching it. */
  static async start(endpoints: readonly string[], prefix = defaultEtcdPrefix): Promise<EtcdDiscovery> {
    const d = new EtcdDiscovery(await connectEtcd(endpoints), prefix);
    try {
      const revision = await d.resync();
      d.watcher = await d.etcd
        .watch()
        .prefix(prefix)
        .startRevision(String(BigInt(revision) + 1n))
        .create();
    } catch (err) {
      d.etcd.close();
      throw etcdError(endpoints, err);
    }
    const w = d.watcher;
    w.on("put", (kv) => d.set(kv.key.toString(), parseNodeRecord(kv.value.toString())));
    w.on("delete", (kv) => d.set(kv.key.toString(), undefined));
    let lost = false;
    w.on("disconnected", () => {
      lost = true;
    });
    w.on("connected", () => {
      if (lost) {
        lost = false;
        d.resync().catch(() => undefined);
      }
    });
    w.on("error", () => undefined); // etcd3 reconnects the watch with backoff
    return d;
  }

  /** Reads the whole prefix and reconciles the known list; returns the revision read. */
  private async resync(): Promise<string> {
    const res = await this.etcd.getAll().prefix(this.prefix).exec();
    if (this.closed) return res.header.revision;
    const seen = new Set<string>();
    for (const kv of res.kvs) {
      const key = kv.key.toString();
      seen.add(key);
      this.set(key, parseNodeRecord(kv.value.toString()));
    }
    for (const key of [...this.byKey.keys()]) if (!seen.has(key)) this.set(key, undefined);
    return res.header.revision;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.watcher?.cancel().catch(() => undefined);
    this.etcd.close();
  }
}

/**
 * Reads the nodes registered under `prefix` once (what `gmq nodes` prints),
 * without watching.
 */
export async function listEtcdNodes(endpoints: readonly string[], prefix = defaultEtcdPrefix): Promise<NodeInfo[]> {
  const etcd = await connectEtcd(endpoints);
  try {
    const kvs = await etcd
      .getAll()
      .prefix(prefix)
      .strings()
      .catch((err: unknown) => {
        throw etcdError(endpoints, err);
      });
    return Object.values(kvs)
      .map(parseNodeRecord)
      .filter((n): n is NodeInfo => n !== undefined);
  } finally {
    etcd.close();
  }
}
