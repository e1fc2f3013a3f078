// Prometheus metrics of a node. Counters and gauges of topics and queues are
// not kept here: they are read from the broker's own stats once per scrape of
// /metrics and formatted by hand (brokerSeries), so the hot path pays nothing
// for them. Only request latency is observed per call, by the gRPC server and
// the gateway, into a histogram kept by hand (LatencyHistogram).
import { status } from "@grpc/grpc-js";
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { StorageStats } from "../broker/index.js";
import type { StreamMeter, StreamMeterHandle, StreamMethod, StreamProtocol } from "./stream-meter.js";

/** What the metrics read from the broker at scrape time (a subset of its stats). */
export interface QueueStatLike {
  bindKey: string;
  ready: number | bigint;
  inFlight: number | bigint;
  delayed: number | bigint;
  dead: number | bigint;
  pushed: number | bigint;
  popped: number | bigint;
  acked: number | bigint;
  redelivered: number | bigint;
  expired: number | bigint;
  bytesOnDisk: number | bigint;
  /** Per priority level in use; empty (no series) while every message has priority 0. */
  priorities?: readonly PriorityStatLike[];
}
export interface PriorityStatLike {
  priority: number;
  ready: number | bigint;
  inFlight: number | bigint;
  delayed: number | bigint;
}
export interface TopicStatLike {
  topic: string;
  pushed: number | bigint;
  popped: number | bigint;
  acked: number | bigint;
  dead: number | bigint;
  delayed: number | bigint;
  inFlight: number | bigint;
  backlog: number | bigint;
  queues: readonly QueueStatLike[];
}
export interface MetricsSources {
  /** The topics to report, by name (cheap: no stats are built). */
  topicNames(): readonly string[];
  /** One topic's stats; undefined when it has gone since topicNames(). */
  topicStat(name: string): TopicStatLike | undefined;
  storageStats?(): StorageStats;
}

export type Protocol = "grpc" | "http";

export interface NodeMetrics {
  registry: Registry;
  /**
   * The whole exposition, in pieces: the registry's series, then the broker's
   * per-topic and per-queue series, written a slice of topics per turn of the
   * event loop so a node with 10,000 topics keeps serving while it is scraped.
   */
  scrape(): AsyncGenerator<string>;
  /** Records one finished call: RPC name (or legacy route), protocol, seconds, status code name. */
  observeRpc(method: string, protocol: Protocol, seconds: number, code: string): void;
  /** Counts one request refused or stream cut by a limit, labelled with the limit's flag ("max-stream-buffer-bytes"). */
  limitRejected(limit: string): void;
  /** Counts one call or stream refused by token auth (401/403, UNAUTHENTICATED/PERMISSION_DENIED), by reason (TOKEN_UNKNOWN). */
  authRefused(reason: string): void;
  /** Counts the streams' messages and bytes, and the streams open (gmq_stream_*). */
  streams: StreamMeter;
}

const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const LATENCY = "gmq_rpc_duration_seconds";

interface LatencySeries {
  /** The label pairs as they appear between the braces. */
  labels: string;
  /** Observations per bucket (not cumulative), the last for above the largest bound. */
  counts: Float64Array;
  sum: number;
}

/**
 * gmq_rpc_duration_seconds, kept by hand: prom-client's Histogram checks and
 * hashes its label set on every observation, even through a cached child
 * (~0.4 µs, a few percent of an HTTP push's CPU on the node). Here an
 * observation is one lookup, a bucket search and two additions; the text is
 * made when /metrics is scraped.
 */
class LatencyHistogram {
  private readonly series = new Map<string, LatencySeries>();

  observe(method: string, protocol: Protocol, code: string, seconds: number): void {
    const key = `${method}\0${protocol}\0${code}`;
    let s = this.series.get(key);
    if (s === undefined) {
      s = { labels: `method="${labelValue(method)}",protocol="${protocol}",code="${labelValue(code)}"`, counts: new Float64Array(LATENCY_BUCKETS.length + 1), sum: 0 };
      this.series.set(key, s);
    }
    let b = 0;
    while (b < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[b]!) b++;
    s.counts[b]!++;
    s.sum += seconds;
  }

  text(): string {
    let out = `# HELP ${LATENCY} Latency of API calls by RPC (or legacy route), protocol and status code\n# TYPE ${LATENCY} histogram\n`;
    for (const s of this.series.values()) {
      let cumulative = 0;
      for (let b = 0; b < LATENCY_BUCKETS.length; b++) {
        cumulative += s.counts[b]!;
        out += `${LATENCY}_bucket{${s.labels},le="${LATENCY_BUCKETS[b]}"} ${cumulative}\n`;
      }
      cumulative += s.counts[LATENCY_BUCKETS.length]!;
      out += `${LATENCY}_bucket{${s.labels},le="+Inf"} ${cumulative}\n${LATENCY}_sum{${s.labels}} ${s.sum}\n${LATENCY}_count{${s.labels}} ${cumulative}\n`;
    }
    return out;
  }
}

// [stat field, series name, help, kind]: counters grow while the node runs
// (Prometheus's rate() needs the counter type), gauges are levels.
const queueSeries = [
  ["pushed", "gmq_queue_pushed_total", "Messages stored into the queue since the node started", "counter"],
  ["popped", "gmq_queue_delivered_total", "Deliveries (first deliveries and redeliveries) since the node started", "counter"],
  ["acked", "gmq_queue_acked_total", "Acks (auto-acks included) since the node started", "counter"],
  ["redelivered", "gmq_queue_redelivered_total", "Redeliveries after a TTR expired since the node started", "counter"],
  ["expired", "gmq_queue_expired_total", "Messages discarded because their time to live passed before a delivery, since the node started", "counter"],
  ["dead", "gmq_queue_dead", "Dead letters held", "gauge"],
  ["delayed", "gmq_queue_delayed", "Messages waiting for their delay", "gauge"],
  ["inFlight", "gmq_queue_in_flight", "Messages delivered and not yet acked", "gauge"],
  ["ready", "gmq_queue_backlog", "Messages ready to be delivered", "gauge"],
  ["bytesOnDisk", "gmq_queue_disk_bytes", "Bytes of segment files of the queue and its dead letters", "gauge"],
] as const;

// Per priority level of a queue that uses more than level 0 (labels topic, queue, priority).
const prioritySeries = [
  ["ready", "gmq_queue_priority_backlog", "Messages of one priority level ready to be delivered", "gauge"],
  ["inFlight", "gmq_queue_priority_in_flight", "Messages of one priority level delivered and not yet acked", "gauge"],
  ["delayed", "gmq_queue_priority_delayed", "Messages of one priority level waiting for a delay", "gauge"],
] as const;

const topicSeries = [
  ["pushed", "gmq_topic_pushed_total", "Pushes accepted by the topic since the node started", "counter"],
  ["popped", "gmq_topic_delivered_total", "Deliveries over all queues of the topic since the node started", "counter"],
  ["acked", "gmq_topic_acked_total", "Acks over all queues of the topic since the node started", "counter"],
  ["dead", "gmq_topic_dead", "Dead letters held over all queues of the topic", "gauge"],
  ["delayed", "gmq_topic_delayed", "Delayed messages over all queues of the topic", "gauge"],
  ["inFlight", "gmq_topic_in_flight", "In-flight messages over all queues of the topic", "gauge"],
  ["backlog", "gmq_topic_backlog", "Ready messages over all queues of the topic", "gauge"],
] as const;

// [series name, help, kind, value read from the store's stats]
const storageSeries: readonly (readonly [string, string, "counter" | "gauge", (s: StorageStats) => number])[] = [
  ["gmq_storage_recovered_truncations", "Torn or corrupt tails truncated during recovery at start", "gauge", (s) => s.recoveredTruncations],
  ["gmq_storage_quarantined_segments", "Segments set aside as unreadable during recovery at start", "gauge", (s) => s.quarantinedSegments],
  ["gmq_storage_recovery_seconds", "Seconds spent recovering at start", "gauge", (s) => s.recoveryMs / 1000],
  ["gmq_storage_fsyncs_total", "msync calls since start", "counter", (s) => s.fsyncs],
  ["gmq_storage_fsync_seconds_total", "Seconds spent in msync since start", "counter", (s) => s.fsyncMsTotal / 1000],
  ["gmq_storage_segments_reclaimed_total", "Fully consumed segments deleted since start", "counter", (s) => s.segmentsReclaimed],
  ["gmq_storage_corrupt_records_skipped_total", "Damaged records skipped while reading since start", "counter", (s) => s.corruptRecordsSkipped],
  ["gmq_storage_messages_lost_total", "Messages lost to damage: ready ones in segments quarantined at start, outstanding and delayed ones whose record is unreadable", "counter", (s) => s.messagesLost],
  ["gmq_storage_data_dir_entries_skipped_total", "Stray or mismatched data dir entries skipped or repaired at start", "counter", (s) => s.dataDirEntriesSkipped],
];

/** A counter or gauge whose value is set from a cumulative total read at scrape time. */
type SettableSeries<L extends string> = { reset(): void; put(labels: Partial<Record<L, string>>, value: number): void };

function settable<L extends string>(
  kind: "counter" | "gauge",
  name: string,
  help: string,
  labelNames: readonly L[],
  registry: Registry,
  collect: () => void,
): SettableSeries<L> {
  if (kind === "gauge") {
    const g = new Gauge<L>({ name, help, labelNames, registers: [registry], collect });
    return { reset: () => g.reset(), put: (labels, v) => g.set(labels, v) };
  }
  // prom-client counters have no set(): a reset then one inc by the broker's
  // total exposes that total (the broker's counters only grow while it runs).
  const c = new Counter<L>({ name, help, labelNames, registers: [registry], collect });
  return { reset: () => c.reset(), put: (labels, v) => c.inc(labels, v) };
}

/** Topics formatted per turn of the event loop during a scrape. */
const TOPICS_PER_TURN = 500;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
const labelValue = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

/**
 * The broker's series in Prometheus text format, read from one snapshot of
 * its stats per scrape. Series named *_total are the broker's cumulative
 * counters (they only grow while the node runs), typed counter; the others
 * are levels, typed gauge. Formatting is split across turns of the event
 * loop; the text is built by hand because a labelled prom-client series per
 * topic costs seconds to fill at 10,000 topics.
 */
async function* brokerSeries(sources: MetricsSources): AsyncGenerator<string> {
  // Read a slice of topics per turn too: building 10,000 topics' stats at once stalled the loop for tens of ms.
  const names = sources.topicNames();
  const topics: TopicStatLike[] = [];
  for (let i = 0; i < names.length; i++) {
    const t = sources.topicStat(names[i]!);
    if (t !== undefined) topics.push(t);
    if ((i + 1) % TOPICS_PER_TURN === 0) await nextTurn();
  }
  await nextTurn();
  for (const [key, name, help, kind] of topicSeries) {
    let out = `# HELP ${name} ${help}\n# TYPE ${name} ${kind}\n`;
    for (let i = 0; i < topics.length; i++) {
      const t = topics[i]!;
      out += `${name}{topic="${labelValue(t.topic)}"} ${Number(t[key])}\n`;
      if ((i + 1) % TOPICS_PER_TURN === 0) {
        yield out;
        out = "";
        await nextTurn();
      }
    }
    yield out;
  }
  for (const [key, name, help, kind] of queueSeries) {
    let out = `# HELP ${name} ${help}\n# TYPE ${name} ${kind}\n`;
    for (let i = 0; i < topics.length; i++) {
      const t = topics[i]!;
      const topic = labelValue(t.topic);
      for (const q of t.queues) out += `${name}{topic="${topic}",queue="${labelValue(q.bindKey)}"} ${Number(q[key])}\n`;
      if ((i + 1) % TOPICS_PER_TURN === 0) {
        yield out;
        out = "";
        await nextTurn();
      }
    }
    yield out;
  }
  for (const [key, name, help, kind] of prioritySeries) {
    let out = `# HELP ${name} ${help}\n# TYPE ${name} ${kind}\n`;
    for (let i = 0; i < topics.length; i++) {
      const t = topics[i]!;
      const topic = labelValue(t.topic);
      for (const q of t.queues) {
        for (const l of q.priorities ?? []) out += `${name}{topic="${topic}",queue="${labelValue(q.bindKey)}",priority="${l.priority}"} ${Number(l[key])}\n`;
      }
      if ((i + 1) % TOPICS_PER_TURN === 0) {
        yield out;
        out = "";
        await nextTurn();
      }
    }
    yield out;
  }
}

/**
 * Creates the node's registry. Names and types follow Prometheus's conventions
 * (checked by promtool in the tests): counters end in _total, durations are in
 * seconds, the process series are gmq_process_* and gmq_nodejs_*.
 */
export function createNodeMetrics(sources: MetricsSources, options: { defaultMetrics?: boolean } = {}): NodeMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) {
    collectDefaultMetrics({ register: registry, prefix: "gmq_" });
    // prom-client also exposes these totals of the per-type gauges
    // (gmq_nodejs_active_handles{type}) as gauges named *_total, which breaks
    // the counter naming rule; the per-type series carry the same information.
    for (const what of ["handles", "requests", "resources"]) registry.removeSingleMetric(`gmq_nodejs_active_${what}_total`);
  }

  const latency = new LatencyHistogram();
  const rejections = new Counter({
    name: "gmq_limit_rejections_total",
    help: "Requests refused, clamped or streams ended by a node limit, by the limit's flag",
    labelNames: ["limit"] as const,
    registers: [registry],
  });

  const authRefusals = new Counter({
    name: "gmq_auth_failures_total",
    help: "Calls refused and streams ended by token auth (HTTP 401/403, gRPC UNAUTHENTICATED/PERMISSION_DENIED), by reason",
    labelNames: ["reason"] as const,
    registers: [registry],
  });

  if (sources.storageStats) {
    const read = sources.storageStats.bind(sources);
    let stats: StorageStats | undefined;
    const readStats = oncePerPass(() => (stats = read()));
    for (const [name, help, kind, value] of storageSeries) {
      const series: SettableSeries<never> = settable(kind, name, help, [], registry, () => {
        readStats();
        if (!stats) return;
        series.reset();
        series.put({}, value(stats));
      });
    }
  }

  const streams = createStreamMeter(registry);

  return {
    registry,
    streams,
    async *scrape() {
      yield await registry.metrics();
      yield latency.text();
      yield* brokerSeries(sources);
    },
    observeRpc(method, protocol, seconds, code) {
      latency.observe(method, protocol, code, seconds);
    },
    limitRejected(limit) {
      rejections.inc({ limit });
    },
    authRefused(reason) {
      authRefusals.inc({ reason });
    },
  };
}

/**
 * gmq_stream_messages_total and gmq_stream_bytes_total by method, protocol
 * and direction (in: from the client, out: to it; bytes are message
 * bodies), and gmq_streams_open by method and protocol. Streams count into
 * plain numbers per method and protocol, added to the counters when they
 * are read: a labelled prom-client child hashes its labels on every inc,
 * which cost a PushStream near 2 µs of the node's CPU per push.
 */
function createStreamMeter(registry: Registry): StreamMeter {
  const labelNames = ["method", "protocol", "direction"] as const;
  type Tally = { method: StreamMethod; protocol: StreamProtocol; inM: number; inB: number; outM: number; outB: number };
  const tallies = new Map<string, Tally>();
  const messages = new Counter({
    name: "gmq_stream_messages_total",
    help: "Messages carried by streams: in = pushes (PushStream) and updates (Consume); out = deliveries (Consume), published messages (Subscribe), push replies (PushStream)",
    labelNames,
    registers: [registry],
    collect() {
      for (const t of tallies.values()) {
        this.inc({ method: t.method, protocol: t.protocol, direction: "in" }, t.inM);
        this.inc({ method: t.method, protocol: t.protocol, direction: "out" }, t.outM);
        t.inM = 0;
        t.outM = 0;
      }
    },
  });
  const bytes = new Counter({
    name: "gmq_stream_bytes_total",
    help: "Message body bytes carried by streams, by direction",
    labelNames,
    registers: [registry],
    collect() {
      for (const t of tallies.values()) {
        this.inc({ method: t.method, protocol: t.protocol, direction: "in" }, t.inB);
        this.inc({ method: t.method, protocol: t.protocol, direction: "out" }, t.outB);
        t.inB = 0;
        t.outB = 0;
      }
    },
  });
  const open = new Gauge({ name: "gmq_streams_open", help: "Streams open now, by method and protocol", labelNames: ["method", "protocol"] as const, registers: [registry] });
  const tallyOf = (method: StreamMethod, protocol: StreamProtocol): Tally => {
    const key = `${method}\0${protocol}`;
    let t = tallies.get(key);
    if (!t) {
      // Every direction appears from the first stream on, at 0, so rate() has a start.
      t = { method, protocol, inM: 0, inB: 0, outM: 0, outB: 0 };
      tallies.set(key, t);
    }
    return t;
  };
  return {
    open(method, protocol): StreamMeterHandle {
      const t = tallyOf(method, protocol);
      open.inc({ method, protocol });
      let closed = false;
      return {
        in(n, b) {
          t.inM += n;
          t.inB += b;
        },
        out(n, b) {
          t.outM += n;
          t.outB += b;
        },
        close() {
          if (closed) return;
          closed = true;
          open.dec({ method, protocol });
        },
      };
    },
  };
}

/** fn, run at most once per synchronous pass (a scrape's collect calls): again only after the pass's microtasks. */
function oncePerPass(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    queueMicrotask(() => (done = false));
    fn();
  };
}

/** An `observe` callback for the gRPC server: numeric gRPC status codes recorded by name ("OK", "NOT_FOUND"). */
export function grpcObserver(metrics: NodeMetrics | undefined): ((method: string, seconds: number, code: number) => void) | undefined {
  if (!metrics) return undefined;
  return (method, seconds, code) => metrics.observeRpc(method, "grpc", seconds, status[code] ?? String(code));
}

/**
 * gmq_tls_certificate_expiry_timestamp_seconds: when the served certificate
 * (--tls-cert) ends, as Unix seconds, read at scrape time so a SIGHUP reload
 * shows at once. Alert on `gmq_tls_certificate_expiry_timestamp_seconds - time() < 14 * 86400`.
 */
export function registerTlsCertificateExpiry(metrics: NodeMetrics, notAfterMs: () => number): void {
  new Gauge({
    name: "gmq_tls_certificate_expiry_timestamp_seconds",
    help: "End of validity of the TLS certificate the node serves (--tls-cert), Unix seconds",
    registers: [metrics.registry],
    collect() {
      this.set(Math.floor(notAfterMs() / 1000));
    },
  });
}
