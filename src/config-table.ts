// Every node option in one table: type, default, unit, bounds, flag,
// environment variable and help text. The parser (config.ts), `gnode --help`
// and the README's configuration tables are all derived from it, so adding an
// option or a limit is one row here plus the code that reads `config.<key>`.
// `npm run readme:config` rewrites the README section; a unit test fails when
// the two differ.

type Unit = "bytes" | "ms" | "s" | "messages";

interface Common {
  /** Long flag without the leading dashes. */
  flag: string;
  env: string;
  help: string;
  /** The original gmq's Go-style flag (-tcp_addr=:9503), accepted as an alias. */
  alias?: string;
  /** Marks a limit: what a request beyond it gets. Such rows are also listed in the README's limits table. */
  beyond?: string;
}

export interface IntOption extends Common {
  type: "int";
  default: number;
  unit?: Unit;
  min: number;
  max: number;
  multipleOf?: number;
}
export interface BoolOption extends Common {
  type: "bool";
  default: boolean;
}
export interface EnumOption extends Common {
  type: "enum";
  default: string;
  values: readonly string[];
}
/** Free text; `empty` says what "" means, and without it "" is refused. */
export interface StringOption extends Common {
  type: "string";
  default: string;
  empty?: string;
}
/** host:port to listen on; ":9503" binds 127.0.0.1. `empty` as for strings. */
export interface AddrOption extends Common {
  type: "addr";
  default: string;
  empty?: string;
}
/** Comma-separated in flags and the environment, an array in the config file. */
export interface ListOption extends Common {
  type: "list";
  default: readonly string[];
  empty: string;
  /** Each item must match `pattern`; a start with another fails, saying the item is not `like`. */
  item?: { pattern: RegExp; like: string };
}

export type OptionSpec = IntOption | BoolOption | EnumOption | StringOption | AddrOption | ListOption;

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

export const optionTable = {
  grpcAddr: { type: "addr", default: "127.0.0.1:9503", flag: "grpc-addr", env: "GMQ_GRPC_ADDR", alias: "tcp_addr", help: "gRPC listen address" },
  httpAddr: { type: "addr", default: "127.0.0.1:9504", flag: "http-addr", env: "GMQ_HTTP_ADDR", alias: "http_addr", empty: "off", help: "HTTP gateway and operator endpoints listen address" },
  dataDir: { type: "string", default: "./data", flag: "data-dir", env: "GMQ_DATA_DIR", help: "directory for segment files and metadata" },
  nodeId: { type: "int", default: 1, min: 1, max: 1024, flag: "node-id", env: "GMQ_NODE_ID", alias: "node_id", help: "unique in a cluster; embedded in message ids" },
  nodeWeight: { type: "int", default: 1, min: 1, max: 1_000_000, flag: "node-weight", env: "GMQ_NODE_WEIGHT", alias: "node_weight", help: "share of traffic clients send here" },
  etcdEndpoints: { type: "list", default: [], empty: "standalone", flag: "etcd-endpoints", env: "GMQ_ETCD_ENDPOINTS", alias: "etcd_endpoints", help: "comma-separated etcd endpoints" },
  etcdPrefix: { type: "string", default: "/gmq/nodes/", flag: "etcd-prefix", env: "GMQ_ETCD_PREFIX", help: "etcd key prefix under which nodes register" },
  etcdLeaseTtlS: { type: "int", unit: "s", default: 10, min: 2, max: 3600, flag: "etcd-lease-ttl-s", env: "GMQ_ETCD_LEASE_TTL_S", help: "how long a dead node stays registered" },
  advertiseGrpcAddr: { type: "string", default: "", empty: "--grpc-addr", flag: "advertise-grpc-addr", env: "GMQ_ADVERTISE_GRPC_ADDR", help: "gRPC address clients are told in etcd" },
  advertiseHttpAddr: { type: "string", default: "", empty: "--http-addr", flag: "advertise-http-addr", env: "GMQ_ADVERTISE_HTTP_ADDR", help: "HTTP address clients are told in etcd" },
  fsync: { type: "enum", default: "interval", values: ["always", "interval", "never"], flag: "fsync", env: "GMQ_FSYNC", help: "durability policy" },
  fsyncIntervalMs: { type: "int", unit: "ms", default: 1000, min: 1, max: 3_600_000, flag: "fsync-interval-ms", env: "GMQ_FSYNC_INTERVAL_MS", help: "flush period under --fsync interval" },
  segmentBytes: { type: "int", unit: "bytes", default: 64 * MiB, min: 64 * KiB, max: GiB, multipleOf: 4096, flag: "segment-bytes", env: "GMQ_SEGMENT_BYTES", help: "size of each segment file; must exceed --max-body-bytes by 4 KiB" },
  maxBodyBytes: { type: "int", unit: "bytes", default: MiB, min: 1, max: 64 * MiB, flag: "max-body-bytes", env: "GMQ_MAX_BODY_BYTES", beyond: "RESOURCE_EXHAUSTED (HTTP 429)", help: "largest message body accepted" },
  maxHttpBodyBytes: { type: "int", unit: "bytes", default: 4 * MiB, min: KiB, max: GiB, flag: "max-http-body-bytes", env: "GMQ_MAX_HTTP_BODY_BYTES", beyond: "RESOURCE_EXHAUSTED (HTTP 413)", help: "largest HTTP request body accepted" },
  maxGrpcMessageBytes: { type: "int", unit: "bytes", default: 64 * MiB, min: 64 * KiB, max: GiB, flag: "max-grpc-message-bytes", env: "GMQ_MAX_GRPC_MESSAGE_BYTES", beyond: "RESOURCE_EXHAUSTED (gRPC only)", help: "largest gRPC message received or sent" },
  maxPopWaitMs: { type: "int", unit: "ms", default: 60_000, min: 0, max: 3_600_000, flag: "max-pop-wait-ms", env: "GMQ_MAX_POP_WAIT_MS", beyond: "INVALID_ARGUMENT (HTTP 400)", help: "longest wait_ms a Pop may ask for" },
  maxListDead: { type: "int", unit: "messages", default: 1000, min: 1, max: 100_000, flag: "max-list-dead", env: "GMQ_MAX_LIST_DEAD", beyond: "INVALID_ARGUMENT (HTTP 400)", help: "largest limit a ListDead may ask for (0 asks for min(100, this)); a list is also cut to what fits one gRPC message were every body --max-body-bytes" },
  httpAllowedHosts: { type: "list", default: [], empty: "IPs, loopback names and the node's own addresses only", flag: "http-allowed-hosts", env: "GMQ_HTTP_ALLOWED_HOSTS", help: "Host names the HTTP listener serves besides IP addresses, localhost and the node's own addresses (*.example.com; *: any); see Browsers" },
  httpCorsOrigins: {
    type: "list",
    default: [],
    empty: "no cross-site browser calls",
    item: { pattern: /^(\*|https?:\/\/[^/\s]+)$/i, like: "an origin such as https://ops.example.com (scheme://host[:port], no path) or *" },
    flag: "http-cors-origins",
    env: "GMQ_HTTP_CORS_ORIGINS",
    help: "browser origins allowed to call the HTTP API cross-site, with CORS (https://ops.example.com; *: any)",
  },
  maxPushFanoutBytes: { type: "int", unit: "bytes", default: 256 * MiB, min: MiB, max: 64 * GiB, flag: "max-push-fanout-bytes", env: "GMQ_MAX_PUSH_FANOUT_BYTES", beyond: "RESOURCE_EXHAUSTED, FANOUT_TOO_LARGE (HTTP 429); nothing is stored", help: "most bytes one Push or PushBatch may write over all queues it reaches (bodies x queues)" },
  maxStreamBufferBytes: { type: "int", unit: "bytes", default: 8 * MiB, min: 64 * KiB, max: GiB, flag: "max-stream-buffer-bytes", env: "GMQ_MAX_STREAM_BUFFER_BYTES", beyond: "RESOURCE_EXHAUSTED, SUBSCRIBER_TOO_SLOW / CONSUMER_TOO_SLOW: the stream ends; a consumer's unacked messages return to the queue", help: "bytes of replies a Consume or Subscribe stream may have waiting for a slow client" },
  maxConsumeInFlight: { type: "int", unit: "messages", default: 10_000, min: 1, max: 1_000_000, flag: "max-consume-in-flight", env: "GMQ_MAX_CONSUME_IN_FLIGHT", beyond: "clamped: max_in_flight and credit beyond it are not granted", help: "most messages in flight to one Consume stream" },
  maxConsumeBatchBytes: { type: "int", unit: "bytes", default: 4 * MiB, min: 64 * KiB, max: GiB, flag: "max-consume-batch-bytes", env: "GMQ_MAX_CONSUME_BATCH_BYTES", beyond: "clamped (also to --max-grpc-message-bytes less 64 KiB)", help: "largest max_batch_bytes a Consume stream gets" },
  maxSubscribeChannels: { type: "int", default: 1000, min: 1, max: 1_000_000, flag: "max-subscribe-channels", env: "GMQ_MAX_SUBSCRIBE_CHANNELS", beyond: "INVALID_ARGUMENT, TOO_MANY_CHANNELS (HTTP 400)", help: "most channels one Subscribe may name" },
  maxHttpConnections: { type: "int", default: 4096, min: 1, max: 1_000_000, flag: "max-http-connections", env: "GMQ_MAX_HTTP_CONNECTIONS", beyond: "the connection is closed at once", help: "most HTTP connections open at once" },
  httpHeadersTimeoutMs: { type: "int", unit: "ms", default: 10_000, min: 1000, max: 300_000, flag: "http-headers-timeout-ms", env: "GMQ_HTTP_HEADERS_TIMEOUT_MS", beyond: "HTTP 408, connection closed", help: "time a client has to send a request's headers" },
  httpRequestTimeoutMs: { type: "int", unit: "ms", default: 60_000, min: 1000, max: 300_000, flag: "http-request-timeout-ms", env: "GMQ_HTTP_REQUEST_TIMEOUT_MS", beyond: "HTTP 408, connection closed", help: "time a client has to send a whole request, body included (responses and streams are not limited)" },
  maxGrpcConnections: { type: "int", default: 4096, min: 1, max: 1_000_000, flag: "max-grpc-connections", env: "GMQ_MAX_GRPC_CONNECTIONS", beyond: "the connection is closed at once", help: "most gRPC connections open at once" },
  grpcHandshakeTimeoutMs: { type: "int", unit: "ms", default: 10_000, min: 1000, max: 300_000, flag: "grpc-handshake-timeout-ms", env: "GMQ_GRPC_HANDSHAKE_TIMEOUT_MS", beyond: "the connection is closed", help: "time a new gRPC connection has for its TLS handshake, and again for its HTTP/2 preface" },
  grpcMaxConnectionIdleMs: { type: "int", unit: "ms", default: 300_000, min: 1000, max: 86_400_000, flag: "grpc-max-connection-idle-ms", env: "GMQ_GRPC_MAX_CONNECTION_IDLE_MS", beyond: "GOAWAY: the connection is closed (clients reconnect)", help: "how long a gRPC connection may stay open with no call" },
  grpcMaxConcurrentStreams: { type: "int", default: 1000, min: 1, max: 1_000_000, flag: "grpc-max-concurrent-streams", env: "GMQ_GRPC_MAX_CONCURRENT_STREAMS", beyond: "the client waits (HTTP/2 flow control)", help: "most calls open at once on one gRPC connection" },
  tlsCert: { type: "string", default: "", empty: "no TLS", flag: "tls-cert", env: "GMQ_TLS_CERT", help: "PEM certificate: enables TLS on gRPC and HTTP" },
  tlsKey: { type: "string", default: "", empty: "no TLS", flag: "tls-key", env: "GMQ_TLS_KEY", help: "PEM private key for --tls-cert" },
  tlsClientCa: { type: "string", default: "", empty: "no client certificates", flag: "tls-client-ca", env: "GMQ_TLS_CLIENT_CA", help: "PEM CA bundle: require client certificates it signed (mutual TLS)" },
  authFile: { type: "string", default: "", empty: "no auth", flag: "auth-file", env: "GMQ_AUTH_FILE", help: "JSON file of bearer tokens with per-topic grants (see Authentication)" },
  metrics: { type: "bool", default: true, flag: "metrics", env: "GMQ_METRICS", help: "serve /metrics" },
  pprof: { type: "bool", default: true, flag: "pprof", env: "GMQ_PPROF", help: "serve /debug/pprof/*" },
  dashboard: { type: "bool", default: true, flag: "dashboard", env: "GMQ_DASHBOARD", help: "serve the live dashboard at /dashboard" },
  historyMaxSeries: { type: "int", default: 200, min: 0, max: 100_000, flag: "history-max-series", env: "GMQ_HISTORY_MAX_SERIES", help: "topics and queues (and the node's total) whose last 24 h the node keeps in memory for GetHistory and the dashboard, up to 128 KiB each (the rings grow with their samples); 0 keeps none" },
  logLevel: { type: "enum", default: "info", values: ["trace", "debug", "info", "warn", "error"], flag: "log-level", env: "GMQ_LOG_LEVEL", help: "JSON logs on stdout from this level up" },
} as const satisfies Record<string, OptionSpec>;

type Table = typeof optionTable;
export type OptionKey = keyof Table;

type ValueOf<S> = S extends { type: "int" }
  ? number
  : S extends { type: "bool" }
    ? boolean
    : S extends { type: "enum"; values: readonly (infer V)[] }
      ? V
      : S extends { type: "list" }
        ? string[]
        : string;

/** The node's one options object, typed from the table. */
export type NodeConfig = { -readonly [K in OptionKey]: ValueOf<Table[K]> };

export const optionKeys = Object.keys(optionTable) as OptionKey[];

export function specOf(key: OptionKey): OptionSpec {
  return optionTable[key];
}

export function defaultConfig(): NodeConfig {
  const c: Record<string, unknown> = {};
  for (const key of optionKeys) {
    const d = optionTable[key].default;
    c[key] = Array.isArray(d) ? [...d] : d;
  }
  return c as NodeConfig;
}

function formatBytes(n: number): string {
  for (const [size, name] of [[GiB, "GiB"], [MiB, "MiB"], [KiB, "KiB"]] as const) {
    if (n >= size && n % size === 0) return `${n / size} ${name}`;
  }
  return n === 1 ? "1 byte" : `${n} bytes`;
}

function formatNumber(n: number, unit: Unit | undefined): string {
  if (unit === "bytes") return formatBytes(n);
  // Grouped by hand: toLocaleString would load Intl's data at every start.
  const digits = Number.isInteger(n) && n >= 10_000 ? String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",") : String(n);
  return unit === "ms" || unit === "s" ? `${digits} ${unit}` : digits;
}

/** The default as a person reads it: "64 MiB", "1000 ms", "empty". */
export function formatDefault(spec: OptionSpec): string {
  switch (spec.type) {
    case "int":
      return formatNumber(spec.default, spec.unit);
    case "bool":
      return String(spec.default);
    case "list":
      return spec.default.length ? spec.default.join(",") : "empty";
    case "enum":
    case "string":
    case "addr":
      return spec.default === "" ? "empty" : spec.default;
  }
}

/** What the option accepts: "1..1024", "64 KiB..1 GiB, multiple of 4 KiB", "always | interval | never". */
export function formatValues(spec: OptionSpec): string {
  const orEmpty = (s: string, empty: string | undefined) => (empty === undefined ? s : `${s}; empty: ${empty}`);
  switch (spec.type) {
    case "int": {
      const range = `${formatNumber(spec.min, spec.unit)}..${formatNumber(spec.max, spec.unit)}`;
      return spec.multipleOf ? `${range}, multiple of ${formatNumber(spec.multipleOf, spec.unit)}` : range;
    }
    case "bool":
      return "true | false";
    case "enum":
      return spec.values.join(" | ");
    case "list":
      return orEmpty("a,b,…", spec.empty);
    case "addr":
      return orEmpty("host:port", spec.empty);
    case "string":
      return orEmpty("text", spec.empty);
  }
}

/** One line of `gnode --help` after the flag. */
export function helpLine(spec: OptionSpec): string {
  const alias = spec.alias ? `; alias -${spec.alias}` : "";
  return `${spec.help} [${formatValues(spec)}] (default: ${formatDefault(spec)}; env ${spec.env}${alias})`;
}

const code = (s: string) => `\`${s}\``;
const cell = (s: string) => s.replace(/\|/g, "\\|");

/** The README's configuration section between its markers: every option, then the limits. */
export function renderReadmeTables(): string {
  const lines = ["| flag | env | default | values | meaning |", "|---|---|---|---|---|"];
  for (const key of optionKeys) {
    const s: OptionSpec = optionTable[key];
    const flag = code(`--${s.flag}`) + (s.alias ? ` (${code(`-${s.alias}`)})` : "");
    const def = formatDefault(s);
    lines.push(`| ${flag} | ${code(s.env)} | ${def === "empty" ? def : code(def)} | ${cell(formatValues(s))} | ${cell(s.help)} |`);
  }
  lines.push("", "Limits: what a request beyond each gets.", "", "| limit | default | beyond it |", "|---|---|---|");
  for (const key of optionKeys) {
    const s: OptionSpec = optionTable[key];
    if (s.beyond) lines.push(`| ${code(`--${s.flag}`)} | ${code(formatDefault(s))} | ${cell(s.beyond)} |`);
  }
  lines.push(
    "",
    '`--max-body-bytes`, `--max-http-body-bytes`, `--max-push-fanout-bytes`, `--max-stream-buffer-bytes`, `--max-consume-*`, `--max-subscribe-channels`, `--max-http-connections`, `--max-grpc-connections`, `--grpc-handshake-timeout-ms` and the cut of a ListDead to one reply (`max-grpc-message-bytes`) count each refusal, clamp or ended stream in `gmq_limit_rejections_total{limit="<the flag without its leading -->"}` (e.g. `limit="max-stream-buffer-bytes"`).',
  );
  return lines.join("\n");
}

export const README_BEGIN = "<!-- config-table: generated from src/config-table.ts by `npm run readme:config` -->";
export const README_END = "<!-- /config-table -->";
