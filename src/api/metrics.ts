// Prometheus metrics of a node. Counters and gauges of topics and queues are
// not kept here: they are read from the broker's own stats when /metrics is
// scraped (a collect callback), so the hot path pays nothing for them. Only
// request latency is observed per call, by the gRPC server and the gateway.
import { status } from "@grpc/grpc-js";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { StorageStats } from "../broker/index.js";

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
  topicStats(): readonly TopicStatLike[];
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
}

const latencyBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

const queueSeries = [
  ["pushed", "gmq_queue_pushed_total", "Messages stored into the queue since the node started"],
  ["popped", "gmq_queue_delivered_total", "Deliveries (first deliveries and redeliveries) since the node started"],
  ["acked", "gmq_queue_acked_total", "Acks (auto-acks included) since the node started"],
  ["redelivered", "gmq_queue_redelivered_total", "Redeliveries after a TTR expired since the node started"],
  ["expired", "gmq_queue_expired_total", "Messages discarded because their time to live passed before a delivery, since the node started"],
  ["dead", "gmq_queue_dead", "Dead letters held"],
  ["delayed", "gmq_queue_delayed", "Messages waiting for their delay"],
  ["inFlight", "gmq_queue_in_flight", "Messages delivered and not yet acked"],
  ["ready", "gmq_queue_backlog", "Messages ready to be delivered"],
  ["bytesOnDisk", "gmq_queue_bytes_on_disk", "Bytes of segment files of the queue and its dead letters"],
] as const;

const topicSeries = [
  ["pushed", "gmq_topic_pushed_total", "Pushes accepted by the topic since the node started"],
  ["popped", "gmq_topic_delivered_total", "Deliveries over all queues of the topic since the node started"],
  ["acked", "gmq_topic_acked_total", "Acks over all queues of the topic since the node started"],
  ["dead", "gmq_topic_dead", "Dead letters held over all queues of the topic"],
  ["delayed", "gmq_topic_delayed", "Delayed messages over all queues of the topic"],
  ["inFlight", "gmq_topic_in_flight", "In-flight messages over all queues of the topic"],
  ["backlog", "gmq_topic_backlog", "Ready messages over all queues of the topic"],
] as const;

const storageSeries = [
  ["recoveredTruncations", "gmq_storage_recovered_truncations", "Torn or corrupt tails truncated during recovery"],
  ["quarantinedSegments", "gmq_storage_quarantined_segments", "Segments set aside as unreadable during recovery"],
  ["recoveryMs", "gmq_storage_recovery_ms", "Milliseconds spent recovering at start"],
  ["fsyncs", "gmq_storage_fsyncs_total", "msync calls since start"],
  ["fsyncMsTotal", "gmq_storage_fsync_ms_total", "Milliseconds spent in msync since start"],
  ["segmentsReclaimed", "gmq_storage_segments_reclaimed_total", "Fully consumed segments deleted since start"],
] as const;

/** Topics formatted per turn of the event loop during a scrape. */
const TOPICS_PER_TURN = 500;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
const labelValue = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

/**
 * The broker's series in Prometheus text format, read from one snapshot of
 * its stats. Series named *_total are cumulative (they only grow while the
 * node runs) but are typed gauge: they are set from the broker's counters.
 * Formatting is split across turns of the event loop; the text is built by
 * hand because a labelled prom-client gauge per topic costs seconds to fill
 * at 10,000 topics.
 */
async function* brokerSeries(sources: MetricsSources): AsyncGenerator<string> {
  const topics = sources.topicStats();
  await nextTurn();
  for (const [key, name, help] of topicSeries) {
    let out = `# HELP ${name} ${help}\n# TYPE ${name} gauge\n`;
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
  for (const [key, name, help] of queueSeries) {
    let out = `# HELP ${name} ${help}\n# TYPE ${name} gauge\n`;
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
}

/**
 * Creates the node's registry. Series named *_total are cumulative but are
 * exposed as gauges set from the broker's counters at scrape time (prom-client
 * counters cannot be set); their values only grow while the node runs.
 */
export function createNodeMetrics(sources: MetricsSources, options: { defaultMetrics?: boolean } = {}): NodeMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: "gmq_process_" });

  const latency = new Histogram({
    name: "gmq_rpc_duration_seconds",
    help: "Latency of API calls by RPC (or legacy route), protocol and status code",
    labelNames: ["method", "protocol", "code"] as const,
    buckets: latencyBuckets,
    registers: [registry],
  });

  const children = new Map<string, { observe(v: number): void }>();
  const rejections = new Counter({
    name: "gmq_limit_rejections_total",
    help: "Requests refused, clamped or streams ended by a node limit, by the limit's flag",
    labelNames: ["limit"] as const,
    registers: [registry],
  });

  if (sources.storageStats) {
    const read = sources.storageStats.bind(sources);
    for (const [key, name, help] of storageSeries) {
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          this.set(read()[key]);
        },
      });
    }
  }

  return {
    registry,
    async *scrape() {
      yield await registry.metrics();
      yield* brokerSeries(sources);
    },
    observeRpc(method, protocol, seconds, code) {
      // Labelled children are cached: hashing the label set per call is the costly part.
      const key = `${method}\0${protocol}\0${code}`;
      let child = children.get(key);
      if (!child) children.set(key, (child = latency.labels(method, protocol, code)));
      child.observe(seconds);
    },
    limitRejected(limit) {
      rejections.inc({ limit });
    },
  };
}

/** An `observe` callback for the gRPC server: numeric gRPC status codes recorded by name ("OK", "NOT_FOUND"). */
export function grpcObserver(metrics: NodeMetrics | undefined): ((method: string, seconds: number, code: number) => void) | undefined {
  if (!metrics) return undefined;
  return (method, seconds, code) => metrics.observeRpc(method, "grpc", seconds, status[code] ?? String(code));
}
