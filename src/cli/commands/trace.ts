// trace: a message's lifecycle as a timeline.
import type { Command } from "commander";
import { TraceConsumerKind, TraceEventKind, type TracedEvent } from "../../client/index.js";
import { CliError, type Context } from "../context.js";
import { formatTime } from "../format.js";

const KIND_NAMES: Record<number, string> = {
  [TraceEventKind.TRACE_EVENT_KIND_PUSHED]: "pushed",
  [TraceEventKind.TRACE_EVENT_KIND_DELAYED]: "delayed",
  [TraceEventKind.TRACE_EVENT_KIND_DELIVERED]: "delivered",
  [TraceEventKind.TRACE_EVENT_KIND_TOUCHED]: "touched",
  [TraceEventKind.TRACE_EVENT_KIND_NACKED]: "nacked",
  [TraceEventKind.TRACE_EVENT_KIND_TTR_EXPIRED]: "ttr_expired",
  [TraceEventKind.TRACE_EVENT_KIND_DEAD_LETTERED]: "dead_lettered",
  [TraceEventKind.TRACE_EVENT_KIND_REDRIVEN]: "redriven",
  [TraceEventKind.TRACE_EVENT_KIND_EXPIRED]: "expired",
  [TraceEventKind.TRACE_EVENT_KIND_ACKED]: "acked",
  [TraceEventKind.TRACE_EVENT_KIND_CANCELLED]: "cancelled",
  [TraceEventKind.TRACE_EVENT_KIND_RESCHEDULED]: "rescheduled",
  [TraceEventKind.TRACE_EVENT_KIND_RELEASED]: "released",
  [TraceEventKind.TRACE_EVENT_KIND_DEAD_POPPED]: "dead_popped",
};
export const traceKindName = (k: TraceEventKind): string => KIND_NAMES[k] ?? `kind_${k}`;
const consumerName = (c: TraceConsumerKind): string => (c === TraceConsumerKind.TRACE_CONSUMER_KIND_POP ? "pop" : c === TraceConsumerKind.TRACE_CONSUMER_KIND_STREAM ? "stream" : "");

/** The event's own details, in words (what its kind sets). */
function details(e: TracedEvent): string {
  const parts: string[] = [];
  if (e.bindKey) parts.push(`queue=${e.bindKey}`);
  switch (e.kind) {
    case TraceEventKind.TRACE_EVENT_KIND_PUSHED:
      parts.push(`node=${e.nodeId}`, `route_key=${JSON.stringify(e.routeKey)}`);
      if (e.duplicate) parts.push("duplicate (idempotency key seen; nothing stored)");
      else parts.push(`queues=${e.queues.join(",")}`);
      break;
    case TraceEventKind.TRACE_EVENT_KIND_DELAYED:
      parts.push(`until=${formatTime(e.untilMs)}`);
      break;
    case TraceEventKind.TRACE_EVENT_KIND_DELIVERED:
      parts.push(`retry=${e.retry}`, `to=${consumerName(e.consumer) || "?"}`);
      if (e.peer) parts.push(`peer=${e.peer}`);
      if (e.tokenName) parts.push(`token=${e.tokenName}`);
      parts.push(e.untilMs > 0n ? `deadline=${formatTime(e.untilMs)}` : "auto-acked");
      break;
    case TraceEventKind.TRACE_EVENT_KIND_TOUCHED:
      parts.push(`deadline=${formatTime(e.untilMs)}`);
      break;
    case TraceEventKind.TRACE_EVENT_KIND_TTR_EXPIRED:
      parts.push(`retry=${e.retry}`, e.untilMs > 0n ? `ready=${formatTime(e.untilMs)}` : "ready now");
      break;
    case TraceEventKind.TRACE_EVENT_KIND_NACKED:
    case TraceEventKind.TRACE_EVENT_KIND_RELEASED:
    case TraceEventKind.TRACE_EVENT_KIND_RESCHEDULED:
      parts.push(`ready=${formatTime(e.untilMs)}`);
      break;
    case TraceEventKind.TRACE_EVENT_KIND_DEAD_LETTERED:
      parts.push(`retry=${e.retry}`);
      break;
    default:
      break;
  }
  return parts.join(" ");
}

function eventData(e: TracedEvent): Record<string, unknown> {
  return {
    kind: traceKindName(e.kind),
    at_ms: Number(e.atMs),
    node: e.node,
    bind_key: e.bindKey,
    retry: e.retry,
    until_ms: Number(e.untilMs),
    node_id: e.nodeId,
    route_key: e.routeKey,
    queues: e.queues,
    duplicate: e.duplicate,
    consumer: consumerName(e.consumer),
    peer: e.peer,
    token_name: e.tokenName,
  };
}

export function register(program: Command, ctx: () => Context): void {
  program
    .command("trace")
    .description("print a message's lifecycle trace as a timeline (its topic needs tracing on: gmq config <topic> --trace true)")
    .argument("<topic>")
    .argument("<id>", "the message id, as push printed it")
    .action(async (topic: string, idText: string) => {
      if (!/^\d{1,20}$/.test(idText) || BigInt(idText) >= 2n ** 64n) throw new CliError(`<id> must be a message id (a decimal number), got ${JSON.stringify(idText)}`);
      const c = ctx();
      const events = await (await c.connect()).trace(topic, BigInt(idText));
      const t0 = Number(events[0]?.atMs ?? 0);
      for (const e of events) {
        const at = Number(e.atMs);
        const line = `${new Date(at).toISOString()}  +${((at - t0) / 1000).toFixed(3)}s  ${traceKindName(e.kind).padEnd(13)} ${details(e)}`;
        c.out(line.trimEnd(), eventData(e));
      }
    });
}
