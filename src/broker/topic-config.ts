// A topic's configuration: defaults, validation, and its persisted form.
import { DEFAULT_DEDUP_WINDOW_MS, MAX_DEDUP_WINDOW_MS } from "./dedup.js";
import { BrokerError, ErrorReason, invalid } from "./errors.js";
import type { RouteMode } from "./routing.js";

export interface TopicConfig {
  autoAck: boolean;
  routeMode: RouteMode;
  /** Seconds a delivery may stay unacked before it is redelivered. */
  msgTtrS: number;
  /** Redeliveries allowed before a message becomes a dead letter. */
  msgRetry: number;
  /** Base of the exponential wait before a redelivery; 0 turns retry backoff off. */
  retryBackoffMs: number;
  /** Cap on one backoff wait; 0 caps it at MAX_RETRY_BACKOFF_MS only. */
  retryBackoffMaxMs: number;
  /** Time to live of a message pushed without its own; 0: messages never expire. */
  msgTtlMs: number;
  /** How long an idempotency key is remembered after its first push; 0 turns duplicate detection off. */
  dedupWindowMs: number;
  /** Priority (0..9, higher first) of a message pushed without its own. */
  defaultPriority: number;
  /** Record the lifecycle trace of every message (see trace.ts). */
  trace: boolean;
  /** Trace events older than this are reclaimed; 0: no time bound. */
  traceRetentionMs: number;
  /** The trace's files are kept under about this many bytes; 0: no size bound (not both 0). */
  traceRetentionBytes: number;
}

export const DEFAULT_TRACE_RETENTION_MS = 86_400_000;
export const DEFAULT_TRACE_RETENTION_BYTES = 64 * 1024 * 1024;
export const MAX_TRACE_RETENTION_MS = 366 * 24 * 3600 * 1000;
export const MAX_TRACE_RETENTION_BYTES = 2 ** 40;

export const DEFAULT_TOPIC_CONFIG: Readonly<TopicConfig> = Object.freeze({
  autoAck: false,
  routeMode: "full",
  msgTtrS: 30,
  msgRetry: 5,
  retryBackoffMs: 0,
  retryBackoffMaxMs: 0,
  msgTtlMs: 0,
  dedupWindowMs: DEFAULT_DEDUP_WINDOW_MS,
  defaultPriority: 0,
  trace: false,
  traceRetentionMs: DEFAULT_TRACE_RETENTION_MS,
  traceRetentionBytes: DEFAULT_TRACE_RETENTION_BYTES,
});

export const MAX_TTR_S = 86_400;
export const MAX_RETRY = 1000;
export const MAX_RETRY_BACKOFF_MS = 86_400_000;
/** Longest time to live, per message or topic default: the longest delay (366 days). */
export const MAX_TTL_MS = 366 * 24 * 3600 * 1000;
/** Priorities are 0..MAX_PRIORITY, higher delivered first (beanstalkd's ten-level cousin of its 2^32). */
export const MAX_PRIORITY = 9;

/** Throws PRIORITY_OUT_OF_RANGE unless value is an integer 0..MAX_PRIORITY. */
export function checkPriority(value: number, field = "priority"): void {
  if (!Number.isInteger(value) || value < 0 || value > MAX_PRIORITY) {
    throw new BrokerError(ErrorReason.PRIORITY_OUT_OF_RANGE, `${field} must be 0..${MAX_PRIORITY} (higher first), got ${value}`);
  }
}

/**
 * How long the n-th redelivery (n >= 1) waits: min(base * 2^(n-1), cap).
 * 0 when the topic has no retry backoff.
 */
export function retryBackoffMs(config: Readonly<TopicConfig>, n: number): number {
  if (config.retryBackoffMs === 0) return 0;
  const cap = config.retryBackoffMaxMs > 0 ? config.retryBackoffMaxMs : MAX_RETRY_BACKOFF_MS;
  // Past 2^40 any base is over the cap; the bound keeps the power finite.
  return Math.min(config.retryBackoffMs * 2 ** Math.min(Math.max(n - 1, 0), 40), cap);
}

function checkBackoffMs(field: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > MAX_RETRY_BACKOFF_MS) {
    throw invalid(`${field} must be 0..${MAX_RETRY_BACKOFF_MS} ms (24 h), got ${value}`);
  }
}

export function applyConfigPatch(current: TopicConfig, patch: Partial<TopicConfig>): TopicConfig {
  const next = { ...current };
  if (patch.autoAck !== undefined) next.autoAck = patch.autoAck;
  if (patch.routeMode !== undefined) {
    if (!["full", "regex", "wildcard"].includes(patch.routeMode)) throw invalid(`route_mode ${patch.routeMode} is unknown`);
    next.routeMode = patch.routeMode;
  }
  if (patch.msgTtrS !== undefined) {
    if (!Number.isInteger(patch.msgTtrS) || patch.msgTtrS < 1 || patch.msgTtrS > MAX_TTR_S) {
      throw invalid(`msg_ttr must be 1..${MAX_TTR_S} seconds, got ${patch.msgTtrS}`);
    }
    next.msgTtrS = patch.msgTtrS;
  }
  if (patch.msgRetry !== undefined) {
    if (!Number.isInteger(patch.msgRetry) || patch.msgRetry < 0 || patch.msgRetry > MAX_RETRY) {
      throw invalid(`msg_retry must be 0..${MAX_RETRY}, got ${patch.msgRetry}`);
    }
    next.msgRetry = patch.msgRetry;
  }
  if (patch.retryBackoffMs !== undefined) {
    checkBackoffMs("retry_backoff_ms", patch.retryBackoffMs);
    next.retryBackoffMs = patch.retryBackoffMs;
  }
  if (patch.retryBackoffMaxMs !== undefined) {
    checkBackoffMs("retry_backoff_max_ms", patch.retryBackoffMaxMs);
    next.retryBackoffMaxMs = patch.retryBackoffMaxMs;
  }
  if (patch.msgTtlMs !== undefined) {
    if (!Number.isInteger(patch.msgTtlMs) || patch.msgTtlMs < 0 || patch.msgTtlMs > MAX_TTL_MS) {
      throw invalid(`msg_ttl_ms must be 0..${MAX_TTL_MS} ms (0: messages never expire), got ${patch.msgTtlMs}`);
    }
    next.msgTtlMs = patch.msgTtlMs;
  }
  if (patch.dedupWindowMs !== undefined) {
    if (!Number.isInteger(patch.dedupWindowMs) || patch.dedupWindowMs < 0 || patch.dedupWindowMs > MAX_DEDUP_WINDOW_MS) {
      throw invalid(`dedup_window_ms must be 0..${MAX_DEDUP_WINDOW_MS} ms (24 h; 0: no duplicate detection), got ${patch.dedupWindowMs}`);
    }
    next.dedupWindowMs = patch.dedupWindowMs;
  }
  if (patch.defaultPriority !== undefined) {
    checkPriority(patch.defaultPriority, "default_priority");
    next.defaultPriority = patch.defaultPriority;
  }
  if (patch.trace !== undefined) next.trace = patch.trace;
  if (patch.traceRetentionMs !== undefined) {
    if (!Number.isInteger(patch.traceRetentionMs) || patch.traceRetentionMs < 0 || patch.traceRetentionMs > MAX_TRACE_RETENTION_MS) {
      throw invalid(`trace_retention_ms must be 0..${MAX_TRACE_RETENTION_MS} ms (366 days; 0: no time bound), got ${patch.traceRetentionMs}`);
    }
    next.traceRetentionMs = patch.traceRetentionMs;
  }
  if (patch.traceRetentionBytes !== undefined) {
    if (!Number.isInteger(patch.traceRetentionBytes) || patch.traceRetentionBytes < 0 || patch.traceRetentionBytes > MAX_TRACE_RETENTION_BYTES) {
      throw invalid(`trace_retention_bytes must be 0..${MAX_TRACE_RETENTION_BYTES} (1 TiB; 0: no size bound), got ${patch.traceRetentionBytes}`);
    }
    next.traceRetentionBytes = patch.traceRetentionBytes;
  }
  if (next.traceRetentionMs === 0 && next.traceRetentionBytes === 0) {
    throw invalid("trace_retention_ms and trace_retention_bytes cannot both be 0: a trace must be bounded by time or size");
  }
  // Checked on the result: either field may change alone.
  if (next.retryBackoffMaxMs !== 0 && next.retryBackoffMaxMs < next.retryBackoffMs) {
    throw invalid(
      `retry_backoff_max_ms (${next.retryBackoffMaxMs}) must be 0 (no cap) or at least retry_backoff_ms (${next.retryBackoffMs})`,
    );
  }
  return next;
}

export interface TopicMeta {
  config: TopicConfig;
  createdAtMs: number;
  bindKeys: string[];
}

export function encodeTopicMeta(meta: TopicMeta): Buffer {
  return Buffer.from(JSON.stringify(meta));
}

/** Reads persisted topic metadata, falling back to defaults (created at nowMs) for anything missing or damaged. */
export function decodeTopicMeta(data: Buffer, nowMs: number): TopicMeta {
  const raw = JSON.parse(data.toString("utf8")) as Partial<TopicMeta>;
  const config = applyConfigPatch({ ...DEFAULT_TOPIC_CONFIG }, raw.config ?? {});
  return {
    config,
    createdAtMs: typeof raw.createdAtMs === "number" ? raw.createdAtMs : nowMs,
    bindKeys: Array.isArray(raw.bindKeys) ? raw.bindKeys.filter((b): b is string => typeof b === "string") : [],
  };
}
