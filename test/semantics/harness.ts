// An in-process broker on the in-memory store or the file store, both on
// one manual clock: tests move time with clock.advance(ms) and see exactly
// what is due.
import { Broker, type Delivery } from "../../src/broker/broker.js";
import { BrokerError, ErrorCode } from "../../src/broker/errors.js";
import { openStorage } from "../../src/store/index.js";
import { openMemoryStorage } from "../../src/store/memory-storage.js";
import { ManualClock } from "../helpers/manual-clock.js";
import { tempDir } from "../store/helpers.js";

const silent = { info() {}, warn() {}, error() {} };

export interface Harness {
  clock: ManualClock;
  broker: Broker;
  /** The next ready message of topic/queue "q", or undefined when none is ready. */
  popNow(topic: string): Promise<Delivery | undefined>;
  /** Ready, in flight, delayed and dead counts of the topic's queue "q". */
  counts(topic: string): { ready: number; inFlight: number; delayed: number; dead: number; expired: number };
}

export const QUEUE = "q";

export type StoreKind = "in-memory store" | "file store";
export const STORES: readonly StoreKind[] = ["in-memory store", "file store"];

export function startBroker(store: StoreKind): Harness {
  const clock = new ManualClock();
  const storage =
    store === "file store" ? openStorage({ dataDir: tempDir("semantics"), segmentBytes: 64 << 10, fsync: "never", clock }) : openMemoryStorage({ clock });
  const broker = Broker.open({ storage, clock, nodeId: 1, version: "test", maxBodyBytes: 1 << 20, logger: silent });
  return {
    clock,
    broker,
    async popNow(topic) {
      try {
        return await broker.pop(topic, QUEUE, 0);
      } catch (err) {
        if (err instanceof BrokerError && err.code === ErrorCode.NOT_FOUND) return undefined;
        throw err;
      }
    },
    counts(topic) {
      const s = broker.topicStat(topic).queues.find((q) => q.bindKey === QUEUE)!;
      return { ready: s.ready, inFlight: s.inFlight, delayed: s.delayed, dead: s.dead, expired: s.expired };
    },
  };
}

/** A topic configured as given, with queue "q" (bind key "q": push with route key QUEUE). */
export function declare(h: Harness, topic: string, config: Parameters<Broker["configure"]>[1] = {}): void {
  h.broker.configure(topic, config);
  h.broker.declareQueue(topic, QUEUE);
}
