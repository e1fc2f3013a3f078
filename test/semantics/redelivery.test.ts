// Redelivery semantics in process, on a manual clock: TTR, retry counts,
// retry backoff, dead letters and redrive, touch, nack with a delay.
import { expect } from "chai";
import { declare, QUEUE, startBroker, STORES, type Harness } from "./harness.js";

const body = (s: string): Buffer => Buffer.from(s);

for (const store of STORES) {
  describe(`redelivery (in process, manual clock), ${store}`, () => {
    let h: Harness;
    beforeEach(() => {
      h = startBroker(store);
    });
    afterEach(async () => {
      await h.broker.close();
    });

    it("redelivers an unacked message after its TTR with retry count 1", async () => {
      declare(h, "ttr", { msgTtrS: 30 });
      const { id } = await h.broker.push("ttr", QUEUE, body("a"), 0);
      const first = await h.popNow("ttr");
      expect(first).to.include({ id, retry: 0, deadlineMs: h.clock.now() + 30_000 });
      await h.clock.advance(29_999);
      expect(await h.popNow("ttr")).to.equal(undefined);
      expect(h.counts("ttr")).to.include({ ready: 0, inFlight: 1 });
      await h.clock.advance(1);
      const again = await h.popNow("ttr");
      expect(again).to.include({ id, retry: 1 });
      expect(again!.body.toString()).to.equal("a");
    });

    it("makes a message whose retries are used up a dead letter with its retry count, and redrives it with retry 0", async () => {
      declare(h, "dead", { msgTtrS: 1, msgRetry: 2 });
      const { id } = await h.broker.push("dead", QUEUE, body("d"), 0);
      for (const retry of [0, 1, 2]) {
        expect(await h.popNow("dead")).to.include({ id, retry });
        await h.clock.advance(1000);
      }
      expect(await h.popNow("dead")).to.equal(undefined);
      expect(h.counts("dead")).to.include({ ready: 0, inFlight: 0, dead: 1 });
      const [letter] = h.broker.listDead("dead", QUEUE, 10);
      expect(letter).to.include({ id, retry: 3 });
      expect(await h.broker.redrive("dead", QUEUE, 0)).to.equal(1);
      expect(h.counts("dead")).to.include({ ready: 1, dead: 0 });
      expect(await h.popNow("dead")).to.include({ id, retry: 0 });
    });

    it("waits base * 2^(n-1), capped, before the n-th redelivery", async () => {
      declare(h, "backoff", { msgTtrS: 1, msgRetry: 10, retryBackoffMs: 1000, retryBackoffMaxMs: 3000 });
      const { id } = await h.broker.push("backoff", QUEUE, body("b"), 0);
      await h.popNow("backoff");
      // n-th redelivery waits 1000, 2000, 3000 (capped), 3000 ms after its TTR ends.
      for (const [n, waitMs] of [[1, 1000], [2, 2000], [3, 3000], [4, 3000]] as const) {
        await h.clock.advance(1000); // the TTR ends
        expect(h.counts("backoff")).to.include({ inFlight: 0, delayed: 1 });
        await h.clock.advance(waitMs - 1);
        expect(await h.popNow("backoff")).to.equal(undefined);
        await h.clock.advance(1);
        expect(await h.popNow("backoff")).to.include({ id, retry: n });
      }
    });

    it("keeps a touched message in flight for a full TTR from the touch", async () => {
      declare(h, "touch", { msgTtrS: 30 });
      const { id } = await h.broker.push("touch", QUEUE, body("t"), 0);
      await h.popNow("touch");
      await h.clock.advance(20_000);
      expect(await h.broker.touch("touch", QUEUE, id, 0)).to.equal(h.clock.now() + 30_000);
      await h.clock.advance(29_999);
      expect(h.counts("touch")).to.include({ ready: 0, inFlight: 1 });
      await h.clock.advance(1);
      expect(await h.popNow("touch")).to.include({ id, retry: 1 });
    });

    it("shortens the deadline with a touch of a smaller ttr_ms", async () => {
      declare(h, "short", { msgTtrS: 60 });
      const { id } = await h.broker.push("short", QUEUE, body("s"), 0);
      await h.popNow("short");
      await h.broker.touch("short", QUEUE, id, 500);
      await h.clock.advance(500);
      expect(await h.popNow("short")).to.include({ id, retry: 1 });
    });

    it("holds a message nacked with a delay until the delay ends, retry unchanged", async () => {
      declare(h, "nack", { msgTtrS: 30 });
      const { id } = await h.broker.push("nack", QUEUE, body("n"), 0);
      await h.popNow("nack");
      await h.broker.nack("nack", QUEUE, id, 2000);
      expect(h.counts("nack")).to.include({ ready: 0, inFlight: 0, delayed: 1 });
      await h.clock.advance(1999);
      expect(await h.popNow("nack")).to.equal(undefined);
      await h.clock.advance(1);
      expect(await h.popNow("nack")).to.include({ id, retry: 0 });
    });

    it("makes a message nacked without a delay ready at once, before never-delivered ones", async () => {
      declare(h, "nack0");
      const a = await h.broker.push("nack0", QUEUE, body("a"), 0);
      const b = await h.broker.push("nack0", QUEUE, body("b"), 0);
      await h.popNow("nack0");
      await h.broker.nack("nack0", QUEUE, a.id, 0);
      expect((await h.popNow("nack0"))!.id).to.equal(a.id);
      expect((await h.popNow("nack0"))!.id).to.equal(b.id);
    });

    it("waits out the topic's retry backoff on a nack without a delay", async () => {
      declare(h, "nackoff", { retryBackoffMs: 5000 });
      const { id } = await h.broker.push("nackoff", QUEUE, body("x"), 0);
      await h.popNow("nackoff");
      await h.broker.nack("nackoff", QUEUE, id, 0);
      await h.clock.advance(4999);
      expect(await h.popNow("nackoff")).to.equal(undefined);
      await h.clock.advance(1);
      expect(await h.popNow("nackoff")).to.include({ id, retry: 0 });
    });
  });
}
