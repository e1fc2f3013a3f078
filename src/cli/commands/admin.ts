// config, declare, delete, delete-topic: shape topics and queues on every node.
import { parsePriority } from "./push.js";
import type { Command } from "commander";
import { RouteMode } from "../../client/index.js";
import { CliError, type Context } from "../context.js";
import { durationHelp, parseDuration, table } from "../format.js";

const modeNames: Record<number, string> = {
  [RouteMode.ROUTE_MODE_UNSPECIFIED]: "unspecified",
  [RouteMode.ROUTE_MODE_FULL]: "full",
  [RouteMode.ROUTE_MODE_REGEX]: "regex",
  [RouteMode.ROUTE_MODE_WILDCARD]: "wildcard",
};
export const modeName = (m: RouteMode | undefined) => modeNames[m ?? 0] ?? String(m);

function parseBool(s: string): boolean {
  if (["1", "true", "yes", "on"].includes(s.toLowerCase())) return true;
  if (["0", "false", "no", "off"].includes(s.toLowerCase())) return false;
  throw new CliError(`expected true or false, got ${JSON.stringify(s)}`);
}

function parseUint(name: string, s: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0) throw new CliError(`${name} must be a non-negative integer, got ${JSON.stringify(s)}`);
  return n;
}

interface ConfigOptions {
  autoAck?: string;
  mode?: string;
  ttr?: string;
  retry?: string;
  retryBackoffMs?: string;
  retryBackoffMaxMs?: string;
  ttl?: string;
  dedupWindow?: string;
  defaultPriority?: string;
  trace?: string;
  traceRetention?: string;
  traceRetentionBytes?: string;
}

export function register(program: Command, ctx: () => Context): void {
  program
    .command("config")
    .description("set a topic's configuration on every node (unset options keep their value)")
    .argument("<topic>")
    .option("--auto-ack <bool>", "ack at delivery (true|false)")
    .option("--mode <mode>", "routing: full | regex | wildcard (1 | 2 | 3)")
    .option("--ttr <duration>", "time-to-run before redelivery, whole seconds, e.g. 30s, 5m")
    .option("--retry <n>", "redeliveries before the dead-letter queue")
    .option("--retry-backoff-ms <ms>", "wait before the first redelivery, doubling for each next one; ms, or e.g. 2s (0: off)")
    .option("--retry-backoff-max-ms <ms>", "cap on one retry backoff wait; ms, or e.g. 1m (0: no cap but 24 h)")
    .option("--ttl <duration>", "default time to live of messages pushed without one, e.g. 30s, 5m (0: never expire)")
    .option("--dedup-window <duration>", "how long a node remembers idempotency keys, e.g. 2m, 1h (max 24h; 0: no duplicate detection)")
    .option("--default-priority <n>", "priority 0..9 of messages pushed without one (higher delivered first)")
    .option("--trace <bool>", "record every message's lifecycle trace, read with gmq trace (true|false)")
    .option("--trace-retention <duration>", "reclaim trace events older than this, e.g. 1h, 24h (0: no time bound)")
    .option("--trace-retention-bytes <n>", "keep each node's trace of the topic under about this many bytes (0: no size bound)")
    .addHelpText("after", `\n${durationHelp}`)
    .action(async (topic: string, o: ConfigOptions) => {
      const c = ctx();
      const modes: Record<string, "full" | "regex" | "wildcard"> = { full: "full", "1": "full", regex: "regex", fuzzy: "regex", "2": "regex", wildcard: "wildcard", "3": "wildcard" };
      const mode = o.mode === undefined ? undefined : modes[o.mode.toLowerCase()];
      if (o.mode !== undefined && !mode) throw new CliError(`--mode must be full, regex or wildcard, got ${o.mode}`);
      const msgTtlMs = o.ttl === undefined ? undefined : parseDuration("--ttl", o.ttl);
      const dedupWindowMs = o.dedupWindow === undefined ? undefined : parseDuration("--dedup-window", o.dedupWindow);
      const ttrMs = o.ttr === undefined ? undefined : parseDuration("--ttr", o.ttr);
      // The topic's msg_ttr is whole seconds (as in the original API).
      if (ttrMs !== undefined && ttrMs % 1000 !== 0) throw new CliError(`--ttr must be whole seconds, got ${o.ttr}`);
      const client = await c.connect();
      const cfg = await client.config(topic, {
        autoAck: o.autoAck === undefined ? undefined : parseBool(o.autoAck),
        routeMode: mode,
        msgTtr: ttrMs === undefined ? undefined : ttrMs / 1000,
        msgRetry: o.retry === undefined ? undefined : parseUint("--retry", o.retry),
        retryBackoffMs: o.retryBackoffMs === undefined ? undefined : parseDuration("--retry-backoff-ms", o.retryBackoffMs),
        retryBackoffMaxMs: o.retryBackoffMaxMs === undefined ? undefined : parseDuration("--retry-backoff-max-ms", o.retryBackoffMaxMs),
        msgTtlMs,
        dedupWindowMs,
        defaultPriority: o.defaultPriority === undefined ? undefined : parsePriority("--default-priority", o.defaultPriority),
        trace: o.trace === undefined ? undefined : parseBool(o.trace),
        traceRetentionMs: o.traceRetention === undefined ? undefined : parseDuration("--trace-retention", o.traceRetention),
        traceRetentionBytes: o.traceRetentionBytes === undefined ? undefined : parseUint("--trace-retention-bytes", o.traceRetentionBytes),
      });
      const data = {
        topic,
        auto_ack: cfg?.autoAck,
        route_mode: modeName(cfg?.routeMode),
        msg_ttr: cfg?.msgTtr,
        msg_retry: cfg?.msgRetry,
        retry_backoff_ms: cfg?.retryBackoffMs,
        retry_backoff_max_ms: cfg?.retryBackoffMaxMs,
        msg_ttl_ms: cfg?.msgTtlMs,
        dedup_window_ms: cfg?.dedupWindowMs,
        default_priority: cfg?.defaultPriority,
        trace: cfg?.trace,
        trace_retention_ms: cfg?.traceRetentionMs,
        trace_retention_bytes: cfg?.traceRetentionBytes,
      };
      c.out(table(Object.keys(data), [Object.values(data)]), data);
    });

  program
    .command("declare")
    .description("declare a queue (topic + bind key) on every node; idempotent")
    .argument("<topic>")
    .argument("<bind-key>")
    .action(async (topic: string, bindKey: string) => {
      const c = ctx();
      const created = await (await c.connect()).declareQueue(topic, bindKey);
      c.out(`${created ? "declared" : "exists"}: ${topic}_${bindKey}`, { topic, bind_key: bindKey, name: `${topic}_${bindKey}`, created });
    });

  program
    .command("delete")
    .description("with <id>: remove one ready, delayed or dead message for good (refused while it is in flight); without: delete the queue with its messages and dead letters on every node")
    .argument("<topic>")
    .argument("<bind-key>")
    .argument("[id]", "the message to remove")
    .action(async (topic: string, bindKey: string, id: string | undefined) => {
      const c = ctx();
      if (id !== undefined) {
        await (await c.connect()).deleteMessage(topic, bindKey, BigInt(id));
        c.out(`deleted ${id} from ${topic}_${bindKey}`, { topic, bind_key: bindKey, id, deleted: true });
        return;
      }
      await (await c.connect()).deleteQueue(topic, bindKey);
      c.out(`deleted: ${topic}_${bindKey}`, { topic, bind_key: bindKey, deleted: true });
    });

  program
    .command("delete-topic")
    .description("delete a topic with all its queues, their messages and dead letters, and its config, on every node")
    .argument("<topic>")
    .action(async (topic: string) => {
      const c = ctx();
      const bindKeys = await (await c.connect()).deleteTopic(topic);
      c.out(`deleted topic ${topic}${bindKeys.length ? ` with queues ${bindKeys.join(", ")}` : " (it had no queues)"}`, { topic, bind_keys: bindKeys, deleted: true });
    });
}
