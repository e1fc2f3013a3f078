// A topic's configuration: defaults, validation, and its persisted form.
import { invalid } from "./errors.js";
import type { RouteMode } from "./routing.js";

export interface TopicConfig {
  autoAck: boolean;
  routeMode: RouteMode;
  /** Seconds a delivery may stay unacked before it is redelivered. */
  msgTtrS: number;
  /** Redeliveries allowed before a message becomes a dead letter. */
  msgRetry: number;
}

export const DEFAULT_TOPIC_CONFIG: Readonly<TopicConfig> = Object.freeze({
  autoAck: false,
  routeMode: "full",
  msgTtrS: 30,
  msgRetry: 5,
});

export const MAX_TTR_S = 86_400;
export const MAX_RETRY = 1000;

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

/** Reads persisted topic metadata, falling back to defaults for anything missing or damaged. */
export function decodeTopicMeta(data: Buffer): TopicMeta {
  const raw = JSON.parse(data.toString("utf8")) as Partial<TopicMeta>;
  const config = applyConfigPatch({ ...DEFAULT_TOPIC_CONFIG }, raw.config ?? {});
  return {
    config,
    createdAtMs: typeof raw.createdAtMs === "number" ? raw.createdAtMs : Date.now(),
    bindKeys: Array.isArray(raw.bindKeys) ? raw.bindKeys.filter((b): b is string => typeof b === "string") : [],
  };
}
