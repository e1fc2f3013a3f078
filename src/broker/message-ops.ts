// Inspecting and steering single messages of a queue: lookup by id, paging
// without delivering, delete, reschedule, purge. The queue's main log and its
// dead-letter log are asked in turn; a message settled in the main log and
// held in the dead letters is dead. The store finds a record by its id's
// time (snowflake ids are time-ordered), so the id's time is the hint.
import { BrokerError, ErrorReason } from "./errors.js";
import type { Queue } from "./queue.js";
import { timeOf } from "./snowflake.js";
import type { StoredInfo } from "./storage.js";
import { TraceKind } from "./trace.js";

/** A message's state as operators see it: the store's, plus dead (held in the dead letters). */
export type MessageState = "ready" | "delayed" | "inFlight" | "dead" | "acked" | "expired";

export interface MessageView extends Omit<StoredInfo, "state"> {
  bindKey: string;
  state: MessageState;
}

export type PeekState = "ready" | "delayed" | "dead";
export type PurgeTarget = "ready" | "delayed" | "dead" | "all";

export interface PurgeCounts {
  ready: number;
  delayed: number;
  dead: number;
}

function view(queue: Queue, info: StoredInfo, dead: boolean): MessageView {
  const state: MessageState = dead ? "dead" : info.state === "settled" ? "acked" : info.state;
  return { ...info, bindKey: queue.bindKey, state };
}

/**
 * Where the message is in one queue: undefined with `reclaimed` set when its
 * record is gone with a reclaimed segment, undefined alone when the queue never
 * held it (or it was removed).
 */
export function findIn(queue: Queue, id: bigint, withBody: boolean, seen: { reclaimed: boolean }): MessageView | undefined {
  const hint = timeOf(id);
  const main = queue.log.inspect(id, hint, withBody);
  const deadLog = queue.deadLog();
  if (typeof main !== "string" && main.state !== "settled") return view(queue, main, false);
  const dead = deadLog?.inspect(id, hint, withBody);
  if (dead !== undefined && typeof dead !== "string" && dead.state !== "settled") return view(queue, dead, true);
  if (typeof main !== "string") return view(queue, main, false);
  if (main === "reclaimed") seen.reclaimed = true;
  return undefined;
}

/** The NOT_FOUND error for a lookup that found nothing. */
export function notFound(where: string, id: bigint, reclaimed: boolean): BrokerError {
  return reclaimed
    ? new BrokerError(ErrorReason.MESSAGE_RECLAIMED, `message ${id} is not in ${where} any more: it was settled and its segment reclaimed`)
    : new BrokerError(ErrorReason.MESSAGE_NOT_FOUND, `no message ${id} in ${where}`);
}

export function peek(queue: Queue, state: PeekState, limit: number, afterId: bigint, withBody: boolean): MessageView[] {
  const after = afterId === 0n ? undefined : { id: afterId, hintMs: timeOf(afterId) };
  if (state === "dead") return (queue.deadLog()?.list("ready", limit, after, withBody) ?? []).map((m) => view(queue, m, true));
  return queue.log.list(state, limit, after, withBody).map((m) => view(queue, m, false));
}

/** Removes a ready, delayed or dead message for good. The caller commits. */
export function deleteMessage(queue: Queue, id: bigint): void {
  const hint = timeOf(id);
  let r = queue.log.remove(id, hint);
  if (r === "missing") r = queue.deadLog()?.remove(id, hint) ?? "missing";
  if (r === "inFlight") throw inFlight(queue, id);
  if (r === "missing") throw notFound(`queue ${queue.name}`, id, false);
  queue.traced(TraceKind.Cancelled, id);
}

/** Moves a ready or delayed message to be due at atMs. The caller commits. */
export function reschedule(queue: Queue, id: bigint, atMs: number): void {
  const r = queue.log.reschedule(id, timeOf(id), atMs);
  if (r === "inFlight") throw inFlight(queue, id);
  if (r === "missing") throw notFound(`queue ${queue.name} (ready or delayed)`, id, false);
  queue.traced(TraceKind.Rescheduled, id, 0, atMs);
  queue.schedule();
  queue.kick();
}

/** Removes messages in bulk. The caller commits. */
export function purge(queue: Queue, what: PurgeTarget): PurgeCounts {
  const counts = { ready: 0, delayed: 0, dead: 0 };
  if (what === "ready" || what === "all") counts.ready = queue.log.purge("ready");
  if (what === "delayed" || what === "all") counts.delayed = queue.log.purge("delayed");
  if (what === "dead" || what === "all") {
    const dead = queue.deadLog();
    if (dead !== undefined) counts.dead = dead.purge("ready") + dead.purge("delayed");
  }
  return counts;
}

function inFlight(queue: Queue, id: bigint): BrokerError {
  return new BrokerError(ErrorReason.MESSAGE_IN_FLIGHT, `message ${id} of queue ${queue.name} is in flight; ack or nack it instead`);
}
