// What every command shares: the global options, a lazily connected client,
// and output in the chosen format.
import { readFileSync } from "node:fs";
import { GmqClient, type ClientOptions, type Strategy, type TlsOptions } from "../client/index.js";
import { parseDuration, toJson } from "./format.js";

export interface GlobalOptions {
  etcd?: string;
  etcdPrefix?: string;
  addr?: string;
  json?: boolean;
  strategy?: string;
  timeoutMs?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  token?: string;
}

export class CliError extends Error {
  override name = "CliError";
}

export class Context {
  private client: GmqClient | undefined;
  constructor(readonly opts: GlobalOptions) {}

  get json(): boolean {
    return Boolean(this.opts.json);
  }

  /** etcd endpoints from --etcd, or empty. */
  etcdEndpoints(): string[] {
    return (this.opts.etcd ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
  }

  addresses(): string[] {
    return (this.opts.addr ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
  }

  clientOptions(): ClientOptions {
    const etcd = this.etcdEndpoints();
    const addresses = this.addresses();
    const strategy = (this.opts.strategy ?? "weighted") as Strategy;
    if (!["weighted", "random", "round-robin"].includes(strategy)) throw new CliError(`--strategy must be weighted, random or round-robin`);
    const callTimeoutMs = this.opts.timeoutMs ? parseDuration("--timeout-ms", this.opts.timeoutMs) : 10_000;
    const base: ClientOptions = { strategy, callTimeoutMs, waitForNodesMs: 3000, tls: this.tls(), ...(this.opts.token && { token: this.opts.token }) };
    if (etcd.length > 0) return { ...base, etcd: { endpoints: etcd, prefix: this.opts.etcdPrefix } };
    return { ...base, addresses: addresses.length > 0 ? addresses : ["127.0.0.1:9503"] };
  }

  /** TLS from --tls-ca / --tls-cert / --tls-key; undefined (plaintext) when none is given. */
  tls(): TlsOptions | undefined {
    const { tlsCa, tlsCert, tlsKey } = this.opts;
    if (!tlsCa && !tlsCert && !tlsKey) return undefined;
    if (Boolean(tlsCert) !== Boolean(tlsKey)) throw new CliError("--tls-cert and --tls-key must be given together");
    const read = (file: string, what: string) => {
      try {
        return readFileSync(file);
      } catch (err) {
        throw new CliError(`cannot read ${what} ${file}: ${(err as Error).message}`);
      }
    };
    return {
      ca: tlsCa ? read(tlsCa, "CA bundle") : undefined,
      cert: tlsCert ? read(tlsCert, "client certificate") : undefined,
      key: tlsKey ? read(tlsKey, "client key") : undefined,
    };
  }

  async connect(): Promise<GmqClient> {
    this.client ??= await GmqClient.connect(this.clientOptions());
    return this.client;
  }

  /** Prints `human` for people, or `data` as one JSON line with --json. */
  out(human: string, data: unknown): void {
    process.stdout.write(`${this.json ? toJson(data) : human}\n`);
  }

  async close(): Promise<void> {
    await this.client?.close();
    this.client = undefined;
  }
}
