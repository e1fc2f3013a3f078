// Priority semantics in process, on a manual clock: highest ready priority
// first, FIFO within one, the topic's default, and a message keeping its
// priority through delays, nacks, TTR redeliveries, dead letters and redrive.
import { expect } from "chai";
import { BrokerError, ErrorReason } from "../../src/broker/errors.js";
import { declare, QUEUE, startBroker, STORES, type Harness } from "./harness.js";

const body = (s: string): Buffer => Buffer.from(s);

for (const store of STORES) {
  describe(`priorities (in process, manual clock), ${store}`, () => {
    let h: Harness;
    beforeEach(() => {
      h = startBroker(store);
    });
    afterEach(async () => {
      await h.broker.close();
    });

    const push = async (topic: string, text: string, priority?: number, delayMs = 0): Promise<bigint> =>
      (await h.broker.push(topic, QUEUE, body(text), delayMs, 0, "", priority)).id;
    const popBodies = async (topic: string, n: number): Promise<string[]> => {
      const out: string[] = [];
      for (let i = 0; i < n; i++) {
        const m = await h.popNow(topic);
        if (m === undefined) break;
        out.push(`${m.body.toString()}@${m.priority ?? 0}`);
      }
      return out;
    };

    it("delivers the highest ready priority first and is FIFO within one", async () => {
      declare(h, "order");
      await push("order", "a", 0);
      await push("order", "b", 5);
      await push("order", "c", 9);
      await push("order", "d", 5);
      await push("order", "e");
      expect(await popBodies("order", 6)).to.deep.equal(["c@9", "b@5", "d@5", "a@0", "e@0"]);
    });

    it("gives pushes without a priority the topic's default_priority, and one with priority 0 keeps 0", async () => {
      declare(h, "dflt", { defaultPriority: 3 });
      await push("dflt", "zero", 0);
      await push("dflt", "default");
      await h.broker.pushBatch("dflt", [
        { routeKey: QUEUE, body: body("batch-default"), delayMs: 0 },
        { routeKey: QUEUE, body: body("batch-seven"), delayMs: 0, priority: 7 },
      ]);
      expect(await popBodies("dflt", 5)).to.deep.equal(["batch-seven@7", "default@3", "batch-default@3", "zero@0"]);
    });

    it("refuses a priority or default_priority outside 0..9 with PRIORITY_OUT_OF_RANGE, storing nothing", async () => {
      declare(h, "range");
      for (const bad of [10, -1, 1.5]) {
        const err = await h.broker.push("range", QUEUE, body("x"), 0, 0, "", bad).catch((e: unknown) => e);
        expect(err).to.be.instanceOf(BrokerError);
        expect((err as BrokerError).reason).to.equal(ErrorReason.PRIORITY_OUT_OF_RANGE);
      }
      const batchErr = await h.broker
        .pushBatch("range", [
          { routeKey: QUEUE, body: body("ok"), delayMs: 0 },
          { routeKey: QUEUE, body: body("bad"), delayMs: 0, priority: 12 },
        ])
        .catch((e: unknown) => e);
      expect((batchErr as BrokerError).reason).to.equal(ErrorReason.PRIORITY_OUT_OF_RANGE);
      expect(() => h.broker.configure("range", { defaultPriority: 10 })).to.throw(BrokerError).with.property("reason", ErrorReason.PRIORITY_OUT_OF_RANGE);
      expect(h.counts("range")).to.include({ ready: 0, delayed: 0 });
      expect(h.broker.topicStat("range").config.defaultPriority).to.equal(0);
    });

    it("makes a delayed message ready at its priority when its delay ends", async () => {
      declare(h, "delay");
      await push("delay", "late-high", 8, 5000);
      await push("delay", "low", 1);
      expect(await popBodies("delay", 1)).to.deep.equal(["low@1"]);
      await push("delay", "low2", 1);
      await h.clock.advance(5000);
      expect(await popBodies("delay", 3)).to.deep.equal(["late-high@8", "low2@1"]);
    });

    it("keeps the priority of a nacked and of a TTR-expired message: both come back before lower ones", async () => {
      declare(h, "retry", { msgTtrS: 10 });
      await push("retry", "h1", 6);
      await push("retry", "h2", 6);
      await push("retry", "l1", 2);
      const a = (await h.popNow("retry"))!;
      const b = (await h.popNow("retry"))!;
      await h.broker.nack("retry", QUEUE, a.id, 0);
      await h.clock.advance(10_000); // b's TTR ends
      const again = [(await h.popNow("retry"))!, (await h.popNow("retry"))!, (await h.popNow("retry"))!];
      expect(again.map((m) => [m.body.toString(), m.priority ?? 0, m.retry])).to.deep.equal([
        ["h1", 6, 0],
        ["h2", 6, 1],
        ["l1", 2, 0],
      ]);
      expect(b.id).to.equal(again[1]!.id);
    });

    it("keeps the priority of a dead letter and of its redriven copy", async () => {
      declare(h, "dead", { msgTtrS: 1, msgRetry: 0 });
      await push("dead", "doomed", 7);
      await h.popNow("dead");
      await h.clock.advance(1000);
      const [letter] = h.broker.listDead("dead", QUEUE, 10);
      expect(letter).to.include({ priority: 7 });
      await push("dead", "plain", 3);
      expect(await h.broker.redrive("dead", QUEUE, 0)).to.equal(1);
      expect(await popBodies("dead", 3)).to.deep.equal(["doomed@7", "plain@3"]);
    });

    it("counts ready, in flight and delayed per priority level in the queue's stats", async () => {
      declare(h, "stats");
      await push("stats", "a", 4);
      await push("stats", "b", 4);
      await push("stats", "c", 0, 1000);
      await h.popNow("stats");
      const q = h.broker.topicStat("stats").queues.find((s) => s.bindKey === QUEUE)!;
      expect(q.priorities).to.deep.equal([
        { priority: 4, ready: 1, inFlight: 1, delayed: 0 },
        { priority: 0, ready: 0, inFlight: 0, delayed: 1 },
      ]);
      declare(h, "plain");
      await push("plain", "p");
      expect(h.broker.topicStat("plain").queues[0]!.priorities).to.deep.equal([]);
    });

    it("hands a consumer the highest priorities first, in batches that keep the order", async () => {
      declare(h, "consume");
      for (const [text, p] of [["l1", 1], ["h1", 8], ["l2", 1], ["h2", 8], ["m1", 4]] as const) await push("consume", text, p);
      const got: string[] = [];
      const consumer = h.broker.consume("consume", QUEUE, { maxInFlight: 10, maxBatchBytes: 1 << 20 }, (batch) => {
        for (const m of batch) got.push(m.body.toString());
      }, () => undefined);
      await h.clock.advance(0);
      await Promise.resolve();
      expect(got).to.deep.equal(["h1", "h2", "m1", "l1", "l2"]);
      consumer.close();
    });
  });
}
