// stats: counters per queue and node for a topic, or a summary of every topic.
import type { Command } from "commander";
import type { QueueStat, TopicConfig, TopicStat } from "../../client/index.js";
import type { Context } from "../context.js";
import { formatTime, table } from "../format.js";
import { modeName } from "./admin.js";

const queueFields = ["ready", "inFlight", "delayed", "dead", "pushed", "popped", "acked", "redelivered", "expired"] as const;
const topicFields = ["backlog", "inFlight", "delayed", "dead", "pushed", "popped", "acked", "expired"] as const;
const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
/** The retry backoff of a topic's header line, only when it has one. */
const backoffOf = (cfg: TopicConfig) =>
  cfg.retryBackoffMs > 0 ? ` retry_backoff=${cfg.retryBackoffMs}ms max=${cfg.retryBackoffMaxMs > 0 ? `${cfg.retryBackoffMaxMs}ms` : "24h"}` : "";
/** The default time to live of a topic's header line, only when it has one. */
const ttlOf = (cfg: TopicConfig) => (cfg.msgTtlMs > 0n ? ` msg_ttl=${cfg.msgTtlMs}ms` : "");
/** The default priority of a topic's header line, only when it is not 0. */
const priorityOf = (cfg: TopicConfig) => (cfg.defaultPriority > 0 ? ` default_priority=${cfg.defaultPriority}` : "");
/** One line per queue and node that uses priorities: its counts per level, highest first. */
const levelsOf = (bindKey: string, node: string, q: QueueStat) =>
  q.priorities.length === 0 ? "" : `\n${bindKey} [${node}] by priority: ${q.priorities.map((l) => `p${l.priority} ready=${l.ready} in_flight=${l.inFlight} delayed=${l.delayed}`).join("; ")}`;

export function register(program: Command, ctx: () => Context): void {
  program
    .command("stats")
    .description("counters of a topic's queues on every node, or a summary of all topics")
    .argument("[topic]")
    .action(async (topic: string | undefined) => {
      const c = ctx();
      const client = await c.connect();
      if (topic) {
        const per = await client.stats(topic);
        const found = per.filter((p) => p.value);
        if (found.length === 0) {
          const err = per.find((p) => p.error)?.error;
          if (err) throw err;
        }
        const rows: Array<Array<string | number | bigint | undefined>> = [];
        const total = new Map<string, bigint[]>();
        let levels = "";
        for (const p of found) {
          for (const q of p.value!.queues) {
            levels += levelsOf(q.bindKey, p.node, q);
            rows.push([q.bindKey, p.node, ...queueFields.map((f) => q[f])]);
            const t = total.get(q.bindKey) ?? queueFields.map(() => 0n);
            queueFields.forEach((f, i) => (t[i]! += q[f]));
            total.set(q.bindKey, t);
          }
        }
        if (found.length > 1) for (const [bk, t] of total) rows.push([bk, "(all)", ...t]);
        rows.sort((a, b) => String(a[0]).localeCompare(String(b[0])) || String(a[1]).localeCompare(String(b[1])));
        const cfg = found[0]?.value?.config;
        const head = cfg ? `topic ${topic}: auto_ack=${cfg.autoAck} route_mode=${modeName(cfg.routeMode)} msg_ttr=${cfg.msgTtr}s msg_retry=${cfg.msgRetry}${backoffOf(cfg)}${ttlOf(cfg)}${priorityOf(cfg)}\n` : "";
        c.out(head + table(["queue", "node", ...queueFields.map(snake)], rows) + levels, {
          topic,
          nodes: per.map((p) => ({ node: p.node, stat: p.value ? statData(p.value) : undefined, error: p.error?.message })),
        });
        return;
      }
      const topics = await client.listTopics();
      const rows: Array<Array<string | number | bigint | undefined>> = [];
      const data: unknown[] = [];
      for (const t of topics) {
        const per = (await client.stats(t.topic)).filter((p) => p.value);
        const sums = topicFields.map((f) => per.reduce((s, p) => s + p.value![f], 0n));
        const created = per.reduce((m, p) => (m === 0n || (p.value!.createdAtMs > 0n && p.value!.createdAtMs < m) ? p.value!.createdAtMs : m), 0n);
        rows.push([t.topic, per.length, ...sums, formatTime(created)]);
        data.push({ topic: t.topic, nodes: per.length, ...Object.fromEntries(topicFields.map((f, i) => [snake(f), sums[i]])), created_at_ms: created });
      }
      c.out(table(["topic", "nodes", ...topicFields.map(snake), "created"], rows), { topics: data });
    });
}

function statData(s: TopicStat): Record<string, unknown> {
  return {
    topic: s.topic,
    config: s.config,
    ...Object.fromEntries(topicFields.map((f) => [snake(f), s[f]])),
    created_at_ms: s.createdAtMs,
    queues: s.queues.map((q: QueueStat) => ({ bind_key: q.bindKey, name: q.name, ...Object.fromEntries(queueFields.map((f) => [snake(f), q[f]])), bytes_on_disk: q.bytesOnDisk,
      priorities: q.priorities.map((l) => ({ priority: l.priority, ready: l.ready, in_flight: l.inFlight, delayed: l.delayed })),
    })),
  };
}
