// Time-driven semantics in process, on a manual clock: push delays, message
// expiry, the duplicate window, auto-ack topics, and the queue's timers
// waking waiting consumers.
import { expect } from "chai";
import type { Delivery } from "../../src/broker/broker.js";
import { declare, QUEUE, startBroker, STORES, type Harness } from "./harness.js";

const body = (s: string): Buffer => Buffer.from(s);

for (const store of STORES) {
  describe(`timing (in process, manual clock), ${store}`, () => {
    let h: Harness;
    beforeEach(() => {
      h = startBroker(store);
    });
    afterEach(async () => {
      await h.broker.close();
    });

    it("delivers a delayed message when its delay ends, not a millisecond before", async () => {
      declare(h, "delay");
      const { id } = await h.broker.push("delay", QUEUE, body("later"), 5000);
      expect(h.counts("delay")).to.include({ ready: 0, delayed: 1 });
      await h.clock.advance(4999);
      expect(await h.popNow("delay")).to.equal(undefined);
      await h.clock.advance(1);
      expect(h.counts("delay")).to.include({ ready: 1, delayed: 0 });
      expect(await h.popNow("delay")).to.include({ id, retry: 0 });
    });

    it("delivers delayed messages in the order their delays end", async () => {
      declare(h, "order");
      const late = await h.broker.push("order", QUEUE, body("late"), 3000);
      const early = await h.broker.push("order", QUEUE, body("early"), 1000);
      await h.clock.advance(3000);
      expect((await h.popNow("order"))!.id).to.equal(early.id);
      expect((await h.popNow("order"))!.id).to.equal(late.id);
    });

    it("wakes a long-polling pop the moment a delay ends", async () => {
      declare(h, "wake");
      const { id } = await h.broker.push("wake", QUEUE, body("w"), 2000);
      const waiting = h.broker.pop("wake", QUEUE, 60_000);
      await h.clock.advance(2000);
      expect(await waiting).to.include({ id });
    });

    it("ends a long-polling pop with nothing after its wait", async () => {
      declare(h, "idle");
      let outcome = "pending";
      h.broker.pop("idle", QUEUE, 1000).then(
        () => (outcome = "message"),
        (err: { code?: string }) => (outcome = String(err.code)),
      );
      await h.clock.advance(999);
      expect(outcome).to.equal("pending");
      await h.clock.advance(1);
      expect(outcome).to.equal("NOT_FOUND");
    });

    it("never delivers a message whose TTL passed, and counts it as expired", async () => {
      declare(h, "ttl");
      await h.broker.push("ttl", QUEUE, body("short"), 0, 1000);
      await h.clock.advance(999);
      expect(h.counts("ttl")).to.include({ ready: 1, expired: 0 });
      await h.clock.advance(1);
      expect(h.counts("ttl")).to.include({ ready: 0, expired: 1 });
      expect(await h.popNow("ttl")).to.equal(undefined);
    });

    it("applies the topic's TTL to a message pushed without one, counted from the push even when delayed", async () => {
      declare(h, "ttl-topic", { msgTtlMs: 2000 });
      await h.broker.push("ttl-topic", QUEUE, body("d"), 3000);
      await h.clock.advance(3000);
      expect(h.counts("ttl-topic")).to.include({ ready: 0, delayed: 0, expired: 1 });
    });

    it("discards an in-flight message past its TTL when its TTR ends, instead of redelivering it", async () => {
      declare(h, "ttl-ttr", { msgTtrS: 10 });
      await h.broker.push("ttl-ttr", QUEUE, body("x"), 0, 5000);
      await h.popNow("ttl-ttr");
      await h.clock.advance(10_000);
      expect(h.counts("ttl-ttr")).to.include({ ready: 0, inFlight: 0, dead: 0, expired: 1 });
    });

    it("answers a repeated idempotency key with the original id within the window, and stores a new message after it", async () => {
      declare(h, "dedup", { dedupWindowMs: 10_000 });
      const first = await h.broker.push("dedup", QUEUE, body("1"), 0, 0, "key-1");
      await h.clock.advance(9999);
      const again = await h.broker.push("dedup", QUEUE, body("2"), 0, 0, "key-1");
      expect(again).to.deep.equal({ id: first.id, queues: 0, duplicate: true });
      expect(h.counts("dedup").ready).to.equal(1);
      await h.clock.advance(1);
      const fresh = await h.broker.push("dedup", QUEUE, body("3"), 0, 0, "key-1");
      expect(fresh.duplicate).to.equal(false);
      expect(fresh.id).to.not.equal(first.id);
      expect(h.counts("dedup").ready).to.equal(2);
    });

    it("settles a message of an auto-ack topic at delivery: it is never redelivered", async () => {
      declare(h, "auto", { autoAck: true, msgTtrS: 1 });
      const { id } = await h.broker.push("auto", QUEUE, body("a"), 0);
      expect(await h.popNow("auto")).to.include({ id });
      expect(h.counts("auto")).to.include({ ready: 0, inFlight: 0 });
      await h.clock.advance(60_000);
      expect(await h.popNow("auto")).to.equal(undefined);
      expect(h.broker.topicStat("auto")).to.include({ acked: 1 });
    });

    it("redelivers to a consumer stream when the TTR of what it holds ends", async () => {
      declare(h, "stream", { msgTtrS: 5 });
      const got: Delivery[] = [];
      h.broker.consume("stream", QUEUE, { maxInFlight: 10, maxBatchBytes: 1 << 20 }, (batch) => got.push(...batch), () => {});
      const { id } = await h.broker.push("stream", QUEUE, body("s"), 0);
      await h.clock.advance(0);
      expect(got.map((m) => [m.id, m.retry])).to.deep.equal([[id, 0]]);
      await h.clock.advance(5000);
      expect(got.map((m) => [m.id, m.retry])).to.deep.equal([
        [id, 0],
        [id, 1],
      ]);
    });
  });
}
