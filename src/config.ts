// The node's one options object: defaults, then an optional JSON config file,
// then GMQ_* environment variables, then flags. Validated once at start.
import { readFileSync } from "node:fs";
import { Command, Option } from "commander";

export type FsyncPolicy = "always" | "interval" | "never";

export interface NodeConfig {
  grpcAddr: string;
  /** Empty disables the HTTP gateway and operator endpoints. */
  httpAddr: string;
  dataDir: string;
  nodeId: number;
  nodeWeight: number;
  /** Empty: standalone (no cluster registration). */
  etcdEndpoints: string[];
  etcdPrefix: string;
  etcdLeaseTtlS: number;
  /** Addresses published in etcd for clients; default to the listen addresses. */
  advertiseGrpcAddr: string;
  advertiseHttpAddr: string;
  fsync: FsyncPolicy;
  fsyncIntervalMs: number;
  segmentBytes: number;
  maxBodyBytes: number;
  maxHttpBodyBytes: number;
  /** Host names the HTTP listener answers besides loopback names, IP literals and its own addresses ("*": any). */
  httpAllowedHosts: string[];
  /** Browser origins allowed to call the HTTP API cross-site (CORS), e.g. https://ops.example.com ("*": any). */
  httpCorsOrigins: string[];
  tlsCert: string;
  tlsKey: string;
  tlsClientCa: string;
  /** JSON file of bearer tokens and their per-topic grants; empty: no auth. */
  authFile: string;
  metrics: boolean;
  pprof: boolean;
  dashboard: boolean;
  logLevel: string;
}

export const defaults: NodeConfig = {
  grpcAddr: "127.0.0.1:9503",
  httpAddr: "127.0.0.1:9504",
  dataDir: "./data",
  nodeId: 1,
  nodeWeight: 1,
  etcdEndpoints: [],
  etcdPrefix: "/gmq/nodes/",
  etcdLeaseTtlS: 10,
  advertiseGrpcAddr: "",
  advertiseHttpAddr: "",
  fsync: "interval",
  fsyncIntervalMs: 1000,
  segmentBytes: 64 * 1024 * 1024,
  maxBodyBytes: 1024 * 1024,
  maxHttpBodyBytes: 4 * 1024 * 1024,
  httpAllowedHosts: [],
  httpCorsOrigins: [],
  tlsCert: "",
  tlsKey: "",
  tlsClientCa: "",
  authFile: "",
  metrics: true,
  pprof: true,
  dashboard: true,
  logLevel: "info",
};

interface Spec {
  key: keyof NodeConfig;
  flag: string;
  env: string;
  help: string;
  /** The original gmq's flag, accepted as an alias. */
  alias?: string;
}

const specs: Spec[] = [
  { key: "grpcAddr", flag: "grpc-addr", env: "GMQ_GRPC_ADDR", help: "gRPC listen address host:port", alias: "tcp_addr" },
  { key: "httpAddr", flag: "http-addr", env: "GMQ_HTTP_ADDR", help: "HTTP gateway listen address host:port (empty: off)", alias: "http_addr" },
  { key: "dataDir", flag: "data-dir", env: "GMQ_DATA_DIR", help: "directory for segment files and metadata" },
  { key: "nodeId", flag: "node-id", env: "GMQ_NODE_ID", help: "node id 1..1024, unique in a cluster", alias: "node_id" },
  { key: "nodeWeight", flag: "node-weight", env: "GMQ_NODE_WEIGHT", help: "weight clients use to spread load", alias: "node_weight" },
  { key: "etcdEndpoints", flag: "etcd-endpoints", env: "GMQ_ETCD_ENDPOINTS", help: "comma-separated etcd endpoints (empty: standalone)", alias: "etcd_endpoints" },
  { key: "etcdPrefix", flag: "etcd-prefix", env: "GMQ_ETCD_PREFIX", help: "etcd key prefix under which nodes register" },
  { key: "etcdLeaseTtlS", flag: "etcd-lease-ttl-s", env: "GMQ_ETCD_LEASE_TTL_S", help: "seconds a dead node stays registered" },
  { key: "advertiseGrpcAddr", flag: "advertise-grpc-addr", env: "GMQ_ADVERTISE_GRPC_ADDR", help: "gRPC address published in etcd (default: --grpc-addr)" },
  { key: "advertiseHttpAddr", flag: "advertise-http-addr", env: "GMQ_ADVERTISE_HTTP_ADDR", help: "HTTP address published in etcd (default: --http-addr)" },
  { key: "fsync", flag: "fsync", env: "GMQ_FSYNC", help: "durability policy: always | interval | never" },
  { key: "fsyncIntervalMs", flag: "fsync-interval-ms", env: "GMQ_FSYNC_INTERVAL_MS", help: "msync period under --fsync interval" },
  { key: "segmentBytes", flag: "segment-bytes", env: "GMQ_SEGMENT_BYTES", help: "size of each segment file" },
  { key: "maxBodyBytes", flag: "max-body-bytes", env: "GMQ_MAX_BODY_BYTES", help: "largest message body accepted" },
  { key: "maxHttpBodyBytes", flag: "max-http-body-bytes", env: "GMQ_MAX_HTTP_BODY_BYTES", help: "largest HTTP request body accepted" },
  { key: "httpAllowedHosts", flag: "http-allowed-hosts", env: "GMQ_HTTP_ALLOWED_HOSTS", help: "comma-separated Host names the HTTP API answers besides loopback, IPs and its own address (*.example.com; *: any)" },
  { key: "httpCorsOrigins", flag: "http-cors-origins", env: "GMQ_HTTP_CORS_ORIGINS", help: "comma-separated browser origins allowed to call the HTTP API cross-site (CORS), e.g. https://ops.example.com" },
  { key: "tlsCert", flag: "tls-cert", env: "GMQ_TLS_CERT", help: "PEM certificate: enables TLS on gRPC and HTTP" },
  { key: "tlsKey", flag: "tls-key", env: "GMQ_TLS_KEY", help: "PEM private key for --tls-cert" },
  { key: "tlsClientCa", flag: "tls-client-ca", env: "GMQ_TLS_CLIENT_CA", help: "PEM CA bundle: require client certificates it signed (mutual TLS)" },
  { key: "authFile", flag: "auth-file", env: "GMQ_AUTH_FILE", help: "JSON file of bearer tokens with per-topic push/consume/admin grants (empty: no auth)" },
  { key: "metrics", flag: "metrics", env: "GMQ_METRICS", help: "serve /metrics (true|false)" },
  { key: "pprof", flag: "pprof", env: "GMQ_PPROF", help: "serve /debug/pprof/* (true|false)" },
  { key: "dashboard", flag: "dashboard", env: "GMQ_DASHBOARD", help: "serve the live dashboard at /dashboard (true|false)" },
  { key: "logLevel", flag: "log-level", env: "GMQ_LOG_LEVEL", help: "trace | debug | info | warn | error" },
];

export class ConfigError extends Error {
  override name = "ConfigError";
}

function coerce(key: keyof NodeConfig, raw: unknown): unknown {
  const def = defaults[key];
  if (Array.isArray(def)) {
    if (Array.isArray(raw)) return raw.map(String);
    return String(raw)
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
  }
  if (typeof def === "number") {
    const n = Number(raw);
    if (!Number.isFinite(n)) throw new ConfigError(`${key} must be a number, got ${JSON.stringify(raw)}`);
    return n;
  }
  if (typeof def === "boolean") {
    if (typeof raw === "boolean") return raw;
    const s = String(raw).toLowerCase();
    if (["1", "true", "yes", "on"].includes(s)) return true;
    if (["0", "false", "no", "off"].includes(s)) return false;
    throw new ConfigError(`${key} must be true or false, got ${JSON.stringify(raw)}`);
  }
  return String(raw);
}

/** Rewrites the original gmq's Go-style flags (-tcp_addr=:9503) to ours (--grpc-addr=:9503). */
function rewriteAliases(argv: string[]): string[] {
  return argv.map((arg) => {
    const m = /^--?([a-z_]+)(=.*)?$/.exec(arg);
    const spec = m && specs.find((s) => s.alias === m[1]);
    return spec && m ? `--${spec.flag}${m[2] ?? ""}` : arg;
  });
}

/** Go's ":9503" means every interface; we keep loopback unless a host is given. */
function normalizeAddr(addr: string): string {
  return addr.startsWith(":") ? `127.0.0.1${addr}` : addr;
}

export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): NodeConfig {
  const program = new Command("gnode")
    .description("gmq broker node")
    .allowExcessArguments(false)
    .addOption(new Option("-c, --config <file>", "JSON config file (keys as in --help, camelCase)").env("GMQ_CONFIG"));
  for (const s of specs) {
    const def = defaults[s.key];
    const shown = Array.isArray(def) ? def.join(",") : String(def);
    const alias = s.alias ? `, alias -${s.alias}` : "";
    program.addOption(new Option(`--${s.flag} <value>`, `${s.help} (default: ${shown === "" ? '""' : shown}; env ${s.env}${alias})`));
  }
  program.exitOverride((err) => {
    if (err.code === "commander.helpDisplayed" || err.code === "commander.version") process.exit(0);
    throw new ConfigError(err.message);
  });
  program.parse(rewriteAliases(argv), { from: "user" });
  const flags = program.opts<Record<string, unknown>>();

  const merged: Record<string, unknown> = { ...defaults };
  const file = (flags["config"] as string | undefined) ?? env["GMQ_CONFIG"];
  if (file) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, "utf8"));
    } catch (err) {
      throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
    }
    if (typeof parsed !== "object" || parsed === null) throw new ConfigError(`config file ${file} must hold a JSON object`);
    for (const [k, v] of Object.entries(parsed)) {
      if (!(k in defaults)) throw new ConfigError(`config file ${file}: unknown key ${k}`);
      merged[k] = coerce(k as keyof NodeConfig, v);
    }
  }
  for (const s of specs) {
    const fromEnv = env[s.env];
    if (fromEnv !== undefined && fromEnv !== "") merged[s.key] = coerce(s.key, fromEnv);
  }
  for (const s of specs) {
    const key = s.flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (flags[key] !== undefined) merged[s.key] = coerce(s.key, flags[key]);
  }
  const config = merged as unknown as NodeConfig;
  config.grpcAddr = normalizeAddr(config.grpcAddr);
  if (config.httpAddr) config.httpAddr = normalizeAddr(config.httpAddr);
  validate(config);
  return config;
}

function validate(c: NodeConfig): void {
  const int = (key: keyof NodeConfig, min: number, max: number) => {
    const v = c[key] as number;
    if (!Number.isInteger(v) || v < min || v > max) throw new ConfigError(`${key} must be an integer in ${min}..${max}, got ${v}`);
  };
  int("nodeId", 1, 1024);
  int("nodeWeight", 1, 1_000_000);
  int("etcdLeaseTtlS", 2, 3600);
  int("fsyncIntervalMs", 1, 3_600_000);
  int("segmentBytes", 64 * 1024, 1024 * 1024 * 1024);
  int("maxBodyBytes", 1, 64 * 1024 * 1024);
  int("maxHttpBodyBytes", 1024, 1024 * 1024 * 1024);
  if (c.segmentBytes % 4096 !== 0) throw new ConfigError(`segmentBytes must be a multiple of 4096, got ${c.segmentBytes}`);
  if (!["always", "interval", "never"].includes(c.fsync)) throw new ConfigError(`fsync must be always, interval or never, got ${c.fsync}`);
  if (c.maxBodyBytes + 4096 > c.segmentBytes) throw new ConfigError("segmentBytes must exceed maxBodyBytes by at least 4 KiB");
  for (const o of c.httpCorsOrigins) {
    if (o !== "*" && !/^https?:\/\/[^/\s]+$/i.test(o)) throw new ConfigError(`httpCorsOrigins: ${o} is not an origin such as https://ops.example.com (scheme://host[:port], no path)`);
  }
  if (Boolean(c.tlsCert) !== Boolean(c.tlsKey)) throw new ConfigError("--tls-cert and --tls-key (tlsCert, tlsKey) must be given together");
  if (c.tlsClientCa && !c.tlsCert) throw new ConfigError("--tls-client-ca (tlsClientCa) needs --tls-cert and --tls-key");
  for (const [key, addr] of [["grpcAddr", c.grpcAddr], ["httpAddr", c.httpAddr]] as const) {
    if (key === "httpAddr" && !addr) continue;
    if (!/^[^\s]+:\d{1,5}$/.test(addr)) throw new ConfigError(`${key} must be host:port, got ${addr}`);
  }
}
