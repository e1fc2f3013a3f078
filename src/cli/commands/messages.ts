// get, peek, reschedule, purge: seeing and steering single messages (delete <topic> <bind-key> <id> is in admin.ts, beside deleting a queue).
import type { Command } from "commander";
import { MessageState, type MessageInfo } from "../../gen/gmq/v1/broker.js";
import type { Context } from "../context.js";
import { durationHelp, formatTime, parseDuration } from "../format.js";

type Info = MessageInfo & { node: string };

const STATE_NAMES: Record<number, string> = {
  [MessageState.MESSAGE_STATE_READY]: "ready",
  [MessageState.MESSAGE_STATE_DELAYED]: "delayed",
  [MessageState.MESSAGE_STATE_IN_FLIGHT]: "in-flight",
  [MessageState.MESSAGE_STATE_DEAD]: "dead",
  [MessageState.MESSAGE_STATE_ACKED]: "acked",
  [MessageState.MESSAGE_STATE_EXPIRED]: "expired",
};

function infoData(m: Info): Record<string, unknown> {
  return {
    id: m.id.toString(),
    bind_key: m.bindKey,
    state: STATE_NAMES[m.state] ?? "unknown",
    route_key: m.routeKey,
    created_at_ms: Number(m.createdAtMs),
    retry: m.retry,
    due_at_ms: Number(m.dueAtMs),
    deadline_ms: Number(m.deadlineMs),
    expires_at_ms: Number(m.expiresAtMs),
    body_bytes: m.bodyBytes,
    ...(m.body.length > 0 && { body: m.body.toString("utf8") }),
    node: m.node,
  };
}

function infoLine(m: Info): string {
  const parts = [`${m.id} [${m.node}] ${m.bindKey} ${STATE_NAMES[m.state] ?? "unknown"}`];
  if (m.dueAtMs > 0n) parts.push(`due=${formatTime(m.dueAtMs)}`);
  if (m.deadlineMs > 0n) parts.push(`deadline=${formatTime(m.deadlineMs)}`);
  if (m.retry > 0) parts.push(`retry=${m.retry}`);
  parts.push(`created=${formatTime(m.createdAtMs)}`, `${m.bodyBytes}B`);
  if (m.expiresAtMs > 0n) parts.push(`expires=${formatTime(m.expiresAtMs)}`);
  if (m.body.length > 0) parts.push(m.body.toString("utf8"));
  return parts.join(" ");
}

export function register(program: Command, ctx: () => Context): void {
  program
    .command("get")
    .description("find a message by id: each queue holding it (or only --bind-key's) and its state there")
    .argument("<topic>")
    .argument("<id>")
    .option("-b, --bind-key <key>", "look only in this queue")
    .option("--body", "print the body too")
    .action(async (topic: string, id: string, o: { bindKey?: string; body?: boolean }) => {
      const c = ctx();
      const list = await (await c.connect()).getMessage(topic, BigInt(id), { bindKey: o.bindKey, includeBody: o.body === true });
      for (const m of list) c.out(infoLine(m), infoData(m));
    });

  program
    .command("peek")
    .description("page through a queue's ready, delayed or dead messages without delivering them")
    .argument("<topic>")
    .argument("<bind-key>")
    .option("--state <state>", "ready, delayed or dead", "ready")
    .option("--limit <n>", "at most this many per node", "20")
    .option("--after <id>", "start after this id (the last of the previous page)")
    .option("--body", "print the bodies too")
    .action(async (topic: string, bindKey: string, o: { state: string; limit: string; after?: string; body?: boolean }) => {
      if (!["ready", "delayed", "dead"].includes(o.state)) throw new Error(`--state must be ready, delayed or dead, got ${o.state}`);
      const c = ctx();
      const list = await (await c.connect()).peek(topic, bindKey, {
        state: o.state as "ready" | "delayed" | "dead",
        limit: Number(o.limit),
        afterId: o.after === undefined ? undefined : BigInt(o.after),
        includeBody: o.body === true,
      });
      for (const m of list) c.out(infoLine(m), infoData(m));
      if (!c.json) process.stderr.write(`${list.length} message(s)\n`);
    });

  program
    .command("reschedule")
    .description(`move a ready or delayed message to a new due time: --delay from now, or --at a time. ${durationHelp}`)
    .argument("<topic>")
    .argument("<bind-key>")
    .argument("<id>")
    .option("--delay <duration>", "due this long from now (0: at once)")
    .option("--at <time>", "due at this time (ISO 8601, or ms since the epoch)")
    .action(async (topic: string, bindKey: string, id: string, o: { delay?: string; at?: string }) => {
      if ((o.delay === undefined) === (o.at === undefined)) throw new Error("give exactly one of --delay and --at");
      let due: { atMs: number } | { delayMs: number };
      if (o.delay !== undefined) due = { delayMs: parseDuration("--delay", o.delay) };
      else {
        const atMs = /^\d+$/.test(o.at!) ? Number(o.at) : Date.parse(o.at!);
        if (!Number.isFinite(atMs)) throw new Error(`--at ${o.at}: not a time`);
        due = { atMs };
      }
      const c = ctx();
      const dueAtMs = await (await c.connect()).reschedule(topic, bindKey, BigInt(id), due);
      c.out(`${id} of ${topic}_${bindKey} is due at ${formatTime(dueAtMs)}`, { topic, bind_key: bindKey, id, due_at_ms: dueAtMs });
    });

  program
    .command("purge")
    .description("remove a queue's ready, delayed or dead messages, or all of them, on every node")
    .argument("<topic>")
    .argument("<bind-key>")
    .argument("<what>", "ready, delayed, dead or all")
    .action(async (topic: string, bindKey: string, what: string) => {
      if (!["ready", "delayed", "dead", "all"].includes(what)) throw new Error(`<what> must be ready, delayed, dead or all, got ${what}`);
      const c = ctx();
      const r = await (await c.connect()).purge(topic, bindKey, what as "ready" | "delayed" | "dead" | "all");
      c.out(`purged ${r.purged} message(s) from ${topic}_${bindKey} (ready ${r.ready}, delayed ${r.delayed}, dead ${r.dead})`, { topic, bind_key: bindKey, ...r });
    });
}
