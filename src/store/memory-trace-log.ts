// A TraceLog held in memory, for memory storage: events in an array per
// topic, retention applied per event (there are no segments to reclaim).
import type { Clock, TraceEvent, TraceKind, TraceLog, TraceLogStats, TraceRetention, TraceSubject } from "../broker/storage.js";

/** About what an event recorded alone (a record of its own) costs on disk in the file store, so a size retention bounds memory at least as tightly. */
const EVENT_BYTES = 80;

export class MemoryTraceData {
  events: TraceEvent[] = [];
  reclaimed = 0;
}

export class MemoryTraceLog implements TraceLog {
  constructor(
    private readonly data: MemoryTraceData,
    private retention: TraceRetention,
    private readonly clock: Clock,
  ) {}

  append(kind: TraceKind, atMs: number, id: bigint, about: TraceSubject, retry: number, untilMs: number): void {
    this.data.events.push({ ...about, queues: [...about.queues], kind, atMs, id, retry, untilMs });
    this.reclaim();
  }

  read(id: bigint, notBeforeMs: number, max: number): TraceEvent[] {
    this.reclaim();
    const out: TraceEvent[] = [];
    for (const e of this.data.events) {
      if (out.length >= max) break;
      if (e.id === id && e.atMs >= notBeforeMs) out.push({ ...e, queues: [...e.queues] });
    }
    return out;
  }

  setRetention(retention: TraceRetention): void {
    this.retention = retention;
    this.reclaim();
  }

  stats(): TraceLogStats {
    return {
      bytesOnDisk: this.data.events.length * EVENT_BYTES,
      segments: 0,
      segmentsReclaimed: 0,
      corruptRecordsSkipped: 0,
      tornTailsTruncated: 0,
      eventsLost: 0,
    };
  }

  private reclaim(): void {
    const { maxAgeMs, maxBytes } = this.retention;
    const events = this.data.events;
    const oldest = this.clock.now() - maxAgeMs;
    let drop = 0;
    while (drop < events.length && ((maxAgeMs > 0 && events[drop]!.atMs < oldest) || (maxBytes > 0 && (events.length - drop) * EVENT_BYTES > maxBytes))) drop++;
    if (drop > 0) {
      events.splice(0, drop);
      this.data.reclaimed += drop;
    }
  }
}
