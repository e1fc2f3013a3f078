// Storing a push's copies without holding the event loop. Copies are written
// synchronously into the queues' logs; one push reaching 1,000 queues used to
// write them all in one turn (hundreds of ms, seconds before the fan-out cap),
// so every other client waited. A push whose copies exceed one turn's share
// is appended queue by queue, yielding to the loop in between.
//
// What a push promised before stays true:
//   - nothing is stored unless the whole push was validated and routed (the
//     caller does all of that before it hands the copies here);
//   - all or nothing on a full disk: a push reaching several queues first
//     reserves space in each, right before its appends (DISK_FULL then stores
//     none of it), so no queue keeps copies that a retry with the same
//     idempotency keys would store a second time;
//   - in every queue, messages stand in push order: the pushes to one topic
//     append through its one lane, a push waiting for those before it, so a
//     small push cannot overtake a large one in a queue the large one has not
//     reached yet.
// A queue deleted while a push waits or is being appended gets no copy.
import type { Queue } from "./queue.js";
import type { NewMessage } from "./storage.js";

/** Bytes of copies appended in one event-loop turn (a few ms of writing). */
export const APPEND_TURN_BYTES = 4 * 1024 * 1024;
/** Queues appended to in one turn, whatever the bytes (each append has a fixed cost). */
export const APPEND_TURN_QUEUES = 256;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function reserve(perQueue: ReadonlyMap<Queue, readonly NewMessage[]>): void {
  if (perQueue.size > 1) for (const [q, messages] of perQueue) if (q.isOpen) q.reserveSpace(messages);
}

function bytesOf(messages: readonly NewMessage[]): number {
  let n = 0;
  for (const m of messages) n += m.body.byteLength;
  return n;
}

/** One topic's appends, in push order. */
export class AppendLane {
  /** The last append spread over turns, settled or not; undefined when the lane is free. */
  private tail: Promise<void> | undefined;

  /**
   * Appends each queue's messages. When the lane is free and the copies fit
   * one turn this happens at once and returns undefined (a push costs no
   * extra turn); otherwise it returns a promise that settles once the copies
   * are appended, after every append before it, with turns in between. It
   * rejects with the error of the reservation or append that failed.
   * `stored` runs once the first turn's appends are done, before the lane
   * yields to the loop: no consumer can have taken a copy before it (the
   * lifecycle trace records the push there).
   */
  append(perQueue: ReadonlyMap<Queue, readonly NewMessage[]>, bytes: number, stored?: () => void): Promise<void> | undefined {
    if (this.tail === undefined && bytes <= APPEND_TURN_BYTES && perQueue.size <= APPEND_TURN_QUEUES) {
      reserve(perQueue);
      for (const [q, messages] of perQueue) q.append(messages);
      stored?.();
      return undefined;
    }
    const before = this.tail;
    const run = (async () => {
      if (before) await before;
      reserve(perQueue);
      let turnBytes = 0;
      let turnQueues = 0;
      for (const [q, messages] of perQueue) {
        if (turnBytes >= APPEND_TURN_BYTES || turnQueues >= APPEND_TURN_QUEUES) {
          stored?.();
          stored = undefined;
          await nextTurn();
          turnBytes = 0;
          turnQueues = 0;
        }
        if (!q.isOpen) continue;
        q.append(messages);
        turnBytes += bytesOf(messages);
        turnQueues++;
      }
      stored?.();
    })();
    // The lane goes on after a failure: the next push's copies are its own.
    const settled = run.then(
      () => {},
      () => {},
    );
    this.tail = settled;
    void settled.then(() => {
      if (this.tail === settled) this.tail = undefined;
    });
    return run;
  }

  /** Resolves once every append handed to the lane so far has ended. */
  async idle(): Promise<void> {
    while (this.tail) await this.tail;
  }
}
