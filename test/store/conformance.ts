// The behaviour every Storage must have, written against the broker's
// contract only, so any backend can run it (see conformance.test.ts).
import { expect } from "chai";
import { StoreError, type Storage } from "../../src/broker/storage.js";
import { bodyOf, ids, msg, msgs, sleep, tempDir } from "./helpers.js";

export type OpenStorage = (dataDir: string) => Storage;

const BIG = 1 << 30;

export function describeStorageConformance(name: string, open: OpenStorage): void {
  describe(`Storage conformance: ${name}`, function () {
    let dir: string;
    let store: Storage;
    const reopen = async (): Promise<Storage> => {
      await store.close();
      store = open(dir);
      return store;
    };

    beforeEach(() => {
      dir = tempDir("conf");
      store = open(dir);
    });
    afterEach(async () => {
      await store.close();
    });

    describe("append and reserve", () => {
      it("delivers appended messages in order with every field intact", () => {
        const q = store.openQueue("orders", "eu.#", "main");
        const a = msg({ routeKey: "eu.fr", body: Buffer.from([0, 1, 2, 255]), createdAtMs: 123.5, retry: 2 });
        const b = msg({ routeKey: "", body: Buffer.alloc(0) });
        q.append([a, b]);
        const got = q.reserve(10, BIG, 5000);
        expect(got).to.have.length(2);
        expect(got[0]).to.deep.equal({ id: a.id, routeKey: "eu.fr", body: Buffer.from([0, 1, 2, 255]), createdAtMs: 123.5, retry: 2, deadlineMs: 5000, expiresAtMs: 0 });
        expect(got[1]!.id).to.equal(b.id);
        expect(got[1]!.body.length).to.equal(0);
        expect(got[1]!.routeKey).to.equal("");
        expect(q.reserve(10, BIG, 5000)).to.deep.equal([]);
      });

      it("copies the body: the caller may reuse its buffer", () => {
        const q = store.openQueue("t", "copy", "main");
        const body = Buffer.from("original");
        q.append([msg({ body })]);
        body.write("XXXXXXXX");
        expect(bodyOf(q.reserve(1, BIG, 1)[0]!)).to.equal("original");
      });

      it("takes at most max messages and about maxBytes of bodies, but at least one", () => {
        const q = store.openQueue("t", "limits", "main");
        q.append(msgs(5, { body: Buffer.alloc(100) }));
        expect(q.reserve(2, BIG, 1)).to.have.length(2);
        expect(q.reserve(10, 150, 1)).to.have.length(1);
        expect(q.reserve(10, 10, 1)).to.have.length(1);
        expect(q.reserve(10, 1000, 1)).to.have.length(1);
      });

      it("rejects a body over the limit with TOO_LARGE and appends nothing of that call", () => {
        const q = store.openQueue("t", "large", "main");
        const ok = msg();
        let err: unknown;
        try {
          q.append([ok, msg({ body: Buffer.alloc((1 << 20) + 1) })]);
        } catch (e) {
          err = e;
        }
        expect(err).to.be.instanceOf(StoreError);
        expect((err as StoreError).code).to.equal("TOO_LARGE");
        expect(q.stats().ready).to.equal(0);
        expect(q.reserve(10, BIG, 1)).to.deep.equal([]);
      });

      it("accepts a body of exactly the limit", () => {
        const q = store.openQueue("t", "exact", "main");
        q.append([msg({ body: Buffer.alloc(1 << 20, 7) })]);
        const [m] = q.reserve(1, BIG, 1);
        expect(m!.body.length).to.equal(1 << 20);
        expect(m!.body.every((b) => b === 7)).to.equal(true);
      });
    });

    describe("ack, release, touch", () => {
      it("acks an in-flight message once; unknown or settled ids return false", () => {
        const q = store.openQueue("t", "ack", "main");
        const [a] = msgs(1);
        q.append([a!]);
        expect(q.ack(a!.id)).to.equal(false); // ready, not in flight
        q.reserve(1, BIG, 1000);
        expect(q.stats().inFlight).to.equal(1);
        expect(q.ack(a!.id)).to.equal(true);
        expect(q.ack(a!.id)).to.equal(false);
        expect(q.ack(424242n)).to.equal(false);
        expect(q.stats()).to.include({ ready: 0, inFlight: 0 });
      });

      it("puts a released message before never-delivered ones, retry unchanged", () => {
        const q = store.openQueue("t", "release", "main");
        const list = msgs(3);
        q.append(list);
        const [first] = q.reserve(1, BIG, 1000);
        expect(q.release(first!.id, 0)).to.equal(true);
        expect(q.release(first!.id, 0)).to.equal(false);
        expect(q.stats()).to.include({ ready: 3, inFlight: 0 });
        const again = q.reserve(3, BIG, 1000);
        expect(ids(again)).to.deep.equal(ids(list));
        expect(again[0]!.retry).to.equal(0);
      });

      it("keeps a message released with a delay until processDue reaches its time", () => {
        const q = store.openQueue("t", "release-later", "main");
        q.append(msgs(1));
        const [m] = q.reserve(1, BIG, 1000);
        const at = Date.now() + 60_000;
        expect(q.release(m!.id, at)).to.equal(true);
        expect(q.stats()).to.include({ ready: 0, inFlight: 0, delayed: 1 });
        expect(q.nextDueMs()).to.equal(at);
        expect(q.reserve(1, BIG, 1000)).to.deep.equal([]);
        expect(q.processDue(at - 1, 5).requeued).to.equal(0);
        expect(q.reserve(1, BIG, 1000)).to.deep.equal([]);
        q.processDue(at, 5);
        expect(q.stats()).to.include({ ready: 1, delayed: 0 });
        expect(ids(q.reserve(1, BIG, 1000))).to.deep.equal([m!.id]);
      });

      it("moves the deadline of an in-flight message with touch", () => {
        const q = store.openQueue("t", "touch", "main");
        q.append(msgs(1));
        const [m] = q.reserve(1, BIG, 1000);
        expect(q.touch(m!.id, 5000)).to.equal(true);
        expect(q.nextDueMs()).to.equal(5000);
        expect(q.processDue(4999, 5).requeued).to.equal(0);
        expect(q.stats().inFlight).to.equal(1);
        expect(q.processDue(5000, 5).requeued).to.equal(1);
        expect(q.touch(m!.id, 9000)).to.equal(false);
      });
    });

    describe("retries and dead letters", () => {
      it("redelivers an unacked message after its deadline with retry count 1, before fresh ones", () => {
        const q = store.openQueue("t", "retry", "main");
        const list = msgs(2);
        q.append([list[0]!]);
        const [m] = q.reserve(1, BIG, 1000);
        q.append([list[1]!]);
        expect(q.processDue(999, 5)).to.deep.equal({ requeued: 0, retriesUsedUp: [] });
        expect(q.processDue(1000, 5)).to.deep.equal({ requeued: 1, retriesUsedUp: [] });
        const again = q.reserve(2, BIG, 3000);
        expect(ids(again)).to.deep.equal([m!.id, list[1]!.id]);
        expect(again[0]!.retry).to.equal(1);
        expect(again[0]!.deadlineMs).to.equal(3000);
        expect(again[1]!.retry).to.equal(0);
      });

      it("returns a message whose retry would exceed maxRetry as retries used up and holds it until bury", () => {
        const q = store.openQueue("t", "dead", "main");
        const dead = store.openQueue("t", "dead", "dead");
        const [a] = msgs(1, { retry: 2 });
        q.append([a!]);
        q.reserve(1, BIG, 1000);
        const { requeued, retriesUsedUp: usedUp } = q.processDue(1000, 2);
        expect(requeued).to.equal(0);
        expect(ids(usedUp)).to.deep.equal([a!.id]);
        expect(usedUp[0]!.retry).to.equal(3);
        expect(bodyOf(usedUp[0]!)).to.equal(`body-${a!.id}`);
        expect(q.stats()).to.include({ ready: 0, inFlight: 0 });
        expect(q.ack(a!.id)).to.equal(false);
        expect(q.processDue(1_000_000, 2).retriesUsedUp).to.deep.equal([]);
        dead.append(usedUp.map((m) => ({ ...m, deliverAtMs: 0 })));
        q.bury([a!.id]);
        const [d] = dead.reserve(1, BIG, 1000);
        expect(d!.id).to.equal(a!.id);
        expect(d!.retry).to.equal(3);
        expect(dead.ack(d!.id)).to.equal(true);
      });

      it("with a requeue delay, keeps a message whose deadline passed delayed from its deadline until then, with retry + 1", () => {
        const q = store.openQueue("t", "backoff", "main");
        const [a] = msgs(1, { retry: 1 });
        q.append([a!]);
        q.reserve(1, BIG, 1000);
        const asked: number[] = [];
        const backoff = (retry: number) => (asked.push(retry), 500);
        // Late by 200 ms: the wait still ends 500 ms after the deadline.
        expect(q.processDue(1200, 5, backoff)).to.deep.equal({ requeued: 1, retriesUsedUp: [] });
        expect(asked).to.deep.equal([2]);
        expect(q.stats()).to.include({ ready: 0, inFlight: 0, delayed: 1 });
        expect(q.nextDueMs()).to.equal(1500);
        expect(q.reserve(1, BIG, 9000)).to.deep.equal([]);
        q.processDue(1499, 5, backoff);
        expect(q.stats().delayed).to.equal(1);
        q.processDue(1500, 5, backoff);
        expect(q.stats()).to.include({ ready: 1, delayed: 0 });
        const [again] = q.reserve(1, BIG, 9000);
        expect(again!.id).to.equal(a!.id);
        expect(again!.retry).to.equal(2);
        expect(q.retryOf(a!.id)).to.equal(2);
      });

      it("makes a requeued message ready at once when its backoff already ended", () => {
        const q = store.openQueue("t", "backoff-over", "main");
        q.append(msgs(1));
        q.reserve(1, BIG, 1000);
        expect(q.processDue(5000, 5, () => 300).requeued).to.equal(1);
        expect(q.stats()).to.include({ ready: 1, delayed: 0 });
      });

      it("dead-letters past maxRetry without waiting for a backoff", () => {
        const q = store.openQueue("t", "backoff-dead", "main");
        const [a] = msgs(1, { retry: 2 });
        q.append([a!]);
        q.reserve(1, BIG, 1000);
        const { requeued, retriesUsedUp: usedUp } = q.processDue(1000, 2, () => 60_000);
        expect(requeued).to.equal(0);
        expect(ids(usedUp)).to.deep.equal([a!.id]);
        expect(q.stats()).to.include({ delayed: 0 });
      });

      it("keeps a message backing off before its retry across reopen, with its retry count", async () => {
        let q = store.openQueue("t", "backoff-reopen", "main");
        const list = msgs(2);
        q.append(list);
        const now = Date.now();
        const got = q.reserve(2, BIG, now);
        q.ack(got[1]!.id);
        q.processDue(now, 5, () => 3_600_000);
        expect(q.stats()).to.include({ ready: 0, inFlight: 0, delayed: 1 });
        store = await reopen();
        q = store.openQueue("t", "backoff-reopen", "main");
        expect(q.stats()).to.include({ ready: 0, inFlight: 0, delayed: 1 });
        expect(q.nextDueMs()).to.equal(now + 3_600_000);
        q.processDue(now + 3_599_999, 5);
        expect(q.reserve(1, BIG, 1)).to.deep.equal([]);
        q.processDue(now + 3_600_000, 5);
        const [m] = q.reserve(1, BIG, now + 4_000_000);
        expect(m!.id).to.equal(got[0]!.id);
        expect(m!.retry).to.equal(1);
        expect(q.reserve(1, BIG, 1)).to.deep.equal([]);
      });

      it("tells the retry count of in-flight messages only", () => {
        const q = store.openQueue("t", "retry-of", "main");
        const [a, b] = msgs(2, { retry: 3 });
        q.append([a!, b!]);
        expect(q.retryOf(a!.id)).to.equal(undefined);
        q.reserve(1, BIG, 1000);
        expect(q.retryOf(a!.id)).to.equal(3);
        q.ack(a!.id);
        expect(q.retryOf(a!.id)).to.equal(undefined);
        expect(q.retryOf(b!.id)).to.equal(undefined);
      });

      it("hands a message whose retries were used up but not buried out again after reopen (dead letter duplicated, not lost)", async () => {
        let q = store.openQueue("t", "unburied", "main");
        const [a] = msgs(1);
        q.append([a!]);
        q.reserve(1, BIG, 1000);
        expect(ids(q.processDue(1000, 0).retriesUsedUp)).to.deep.equal([a!.id]);
        await reopen();
        q = store.openQueue("t", "unburied", "main");
        const { retriesUsedUp: usedUp } = q.processDue(Date.now(), 0);
        expect(ids(usedUp)).to.deep.equal([a!.id]);
        expect(usedUp[0]!.retry).to.equal(1);
        q.bury([a!.id]);
        await reopen();
        q = store.openQueue("t", "unburied", "main");
        expect(q.processDue(Date.now(), 0).retriesUsedUp).to.deep.equal([]);
        expect(q.stats()).to.include({ ready: 0, inFlight: 0, delayed: 0 });
      });
    });

    describe("delays", () => {
      it("holds delayed messages and fires them in time order", () => {
        const q = store.openQueue("t", "delay", "main");
        const now = Date.now();
        const late = msg({ deliverAtMs: now + 30_000 });
        const early = msg({ deliverAtMs: now + 10_000 });
        const fresh = msg();
        q.append([late, early, fresh]);
        expect(q.stats()).to.include({ ready: 1, delayed: 2 });
        expect(q.nextDueMs()).to.equal(now + 10_000);
        expect(ids(q.reserve(10, BIG, now + 100_000))).to.deep.equal([fresh.id]);
        q.processDue(now + 40_000, 5);
        expect(q.stats()).to.include({ ready: 2, delayed: 0 });
        const got = q.reserve(10, BIG, now + 1000);
        expect(ids(got)).to.deep.equal([early.id, late.id]);
        expect(bodyOf(got[1]!)).to.equal(`body-${late.id}`);
        expect(q.nextDueMs()).to.equal(now + 1000);
        expect(q.processDue(now + 50_000, 5).requeued).to.equal(2);
      });

      it("treats deliverAtMs in the past as ready at once", () => {
        const q = store.openQueue("t", "past", "main");
        q.append([msg({ deliverAtMs: Date.now() - 5 })]);
        expect(q.stats()).to.include({ ready: 1, delayed: 0 });
      });

      it("fires delays whose time passed while closed, right after reopen", async () => {
        let q = store.openQueue("t", "delay-down", "main");
        const soon = msg({ deliverAtMs: Date.now() + 30 });
        const later = msg({ deliverAtMs: Date.now() + 3_600_000 });
        q.append([later, soon]);
        await store.close();
        await sleep(40);
        store = open(dir);
        q = store.openQueue("t", "delay-down", "main");
        expect(q.stats().delayed).to.equal(2);
        expect(q.nextDueMs()).to.be.at.most(Date.now());
        q.processDue(Date.now(), 5);
        expect(ids(q.reserve(10, BIG, 1))).to.deep.equal([soon.id]);
        expect(q.stats().delayed).to.equal(1);
      });
    });

    describe("delays across restarts", () => {
      it("never delivers a fired delay again, however many segments and restarts", async () => {
        const delivered = new Set<bigint>();
        let q = store.openQueue("t", "delay-restarts", "main");
        for (let round = 0; round < 4; round++) {
          const at = Date.now() + 5;
          for (let i = 0; i < 6; i++) q.append(msgs(100, { deliverAtMs: at, body: Buffer.alloc(300, round) }));
          await sleep(10);
          q.processDue(Date.now(), 5);
          for (;;) {
            const b = q.reserve(250, BIG, Date.now() + 60_000);
            if (b.length === 0) break;
            for (const m of b) {
              expect(delivered.has(m.id), `${m.id} delivered twice`).to.equal(false);
              delivered.add(m.id);
              q.ack(m.id);
            }
          }
          store = await reopen();
          q = store.openQueue("t", "delay-restarts", "main");
          q.processDue(Date.now() + 1e9, 5);
          expect(q.stats()).to.include({ ready: 0, inFlight: 0, delayed: 0 });
        }
        expect(delivered.size).to.equal(2400);
      });
    });

    describe("expiry", () => {
      // Times are given to reserve and processDue explicitly: no sleeping.
      it("never delivers a ready message whose expiry passed: discards it and counts it as expired", () => {
        const q = store.openQueue("t", "exp-ready", "main");
        const now = Date.now();
        const a = msg({ routeKey: "eu.fr", expiresAtMs: now + 1000 });
        const b = msg();
        const c = msg({ expiresAtMs: now + 60_000 });
        q.append([a, b, c]);
        const got = q.reserve(10, BIG, now + 30_000, now + 2000);
        expect(ids(got)).to.deep.equal([b.id, c.id]);
        expect(got[0]!.expiresAtMs).to.equal(0);
        expect(got[1]!.expiresAtMs).to.equal(now + 60_000);
        expect(bodyOf(got[1]!)).to.equal(`body-${c.id}`);
        expect(q.stats()).to.include({ ready: 0, inFlight: 2, expired: 1 });
        expect(q.ack(a.id)).to.equal(false);
      });

      it("delivers a message with an expiry, every field intact, until the expiry passes", () => {
        const q = store.openQueue("t", "exp-fields", "main");
        const now = Date.now();
        const a = msg({ routeKey: "clé.ü", body: Buffer.from([0, 1, 255]), createdAtMs: 12.5, retry: 1, expiresAtMs: now + 1000 });
        q.append([a]);
        expect(q.reserve(1, BIG, 5000, now + 999)).to.deep.equal([
          { id: a.id, routeKey: "clé.ü", body: Buffer.from([0, 1, 255]), createdAtMs: 12.5, retry: 1, deadlineMs: 5000, expiresAtMs: now + 1000 },
        ]);
      });

      it("journals the discard: an expired message does not come back after reopen", async () => {
        let q = store.openQueue("t", "exp-journal", "main");
        const now = Date.now();
        const [a, b] = [msg({ expiresAtMs: now + 1000 }), msg()];
        q.append([a!, b!]);
        expect(ids(q.reserve(10, BIG, now + 30_000, now + 2000))).to.deep.equal([b!.id]);
        q.ack(b!.id);
        store = await reopen();
        q = store.openQueue("t", "exp-journal", "main");
        // Asked as if before the expiry: only a journaled discard keeps it away.
        expect(q.reserve(10, BIG, now + 30_000, now)).to.deep.equal([]);
        expect(q.stats()).to.include({ ready: 0, inFlight: 0 });
      });

      it("keeps a message's expiry across reopen", async () => {
        let q = store.openQueue("t", "exp-reopen", "main");
        const at = Date.now() + 60_000;
        const a = msg({ expiresAtMs: at });
        q.append([a]);
        store = await reopen();
        q = store.openQueue("t", "exp-reopen", "main");
        const [m] = q.reserve(1, BIG, 1000);
        expect(m!.id).to.equal(a.id);
        expect(m!.expiresAtMs).to.equal(at);
      });

      it("discards a requeued message that expired before it was delivered again", () => {
        const q = store.openQueue("t", "exp-requeued", "main");
        const now = Date.now();
        const a = msg({ expiresAtMs: now + 1000 });
        q.append([a]);
        q.reserve(1, BIG, now + 500, now);
        expect(q.processDue(now + 600, 5).requeued).to.equal(1);
        expect(q.stats()).to.include({ ready: 1, expired: 0 });
        expect(q.reserve(1, BIG, now + 30_000, now + 1000)).to.deep.equal([]);
        expect(q.stats()).to.include({ ready: 0, inFlight: 0, expired: 1 });
      });

      it("lets an in-flight message be acked after its expiry, and discards it (not dead) when its TTR passes later", async () => {
        let q = store.openQueue("t", "exp-inflight", "main");
        const now = Date.now();
        const [a, b] = [msg({ expiresAtMs: now + 1000 }), msg({ expiresAtMs: now + 1000 })];
        q.append([a!, b!]);
        expect(q.reserve(2, BIG, now + 5000, now)).to.have.length(2);
        // The expiry passes while in flight: nothing is cut short.
        expect(q.processDue(now + 2000, 0)).to.deep.equal({ requeued: 0, retriesUsedUp: [] });
        expect(q.stats()).to.include({ inFlight: 2, expired: 0 });
        expect(q.ack(a!.id)).to.equal(true);
        // b's TTR passes after its expiry: discarded, not requeued and not a dead letter (maxRetry 0).
        expect(q.processDue(now + 5000, 0)).to.deep.equal({ requeued: 0, retriesUsedUp: [] });
        expect(q.stats()).to.include({ inFlight: 0, ready: 0, expired: 1 });
        store = await reopen();
        q = store.openQueue("t", "exp-inflight", "main");
        expect(q.stats()).to.include({ inFlight: 0, ready: 0, delayed: 0 });
        expect(q.processDue(now + 10_000, 0)).to.deep.equal({ requeued: 0, retriesUsedUp: [] });
      });

      it("discards a delayed message at its expiry when that comes before its delay ends, durably", async () => {
        let q = store.openQueue("t", "exp-delayed", "main");
        const now = Date.now();
        const a = msg({ deliverAtMs: now + 60_000, expiresAtMs: now + 1000 });
        const b = msg({ deliverAtMs: now + 500, expiresAtMs: now + 60_000 });
        q.append([a, b]);
        expect(q.stats()).to.include({ delayed: 2 });
        expect(q.nextDueMs()).to.equal(now + 500);
        q.processDue(now + 1500, 5);
        expect(q.stats()).to.include({ delayed: 0, ready: 1, expired: 1 });
        expect(ids(q.reserve(10, BIG, now + 30_000, now + 1500))).to.deep.equal([b.id]);
        store = await reopen();
        q = store.openQueue("t", "exp-delayed", "main");
        q.processDue(now + 70_000, 5);
        expect(q.stats()).to.include({ delayed: 0, ready: 0 });
        expect(q.reserve(10, BIG, now + 90_000, now + 70_000)).to.deep.equal([]);
      });

      it("discards a nack-delayed message at its expiry, not at its ready time", () => {
        const q = store.openQueue("t", "exp-nack", "main");
        const now = Date.now();
        const a = msg({ expiresAtMs: now + 1000 });
        q.append([a]);
        q.reserve(1, BIG, now + 30_000, now);
        q.release(a.id, now + 60_000);
        expect(q.stats()).to.include({ delayed: 1 });
        expect(q.nextDueMs()).to.equal(now + 1000);
        q.processDue(now + 1000, 5);
        expect(q.stats()).to.include({ delayed: 0, ready: 0, expired: 1 });
      });

      it("sweeps expired messages at the head of an idle queue when processDue runs, durably", async () => {
        let q = store.openQueue("t", "exp-sweep", "main");
        const now = Date.now();
        const expiring = msgs(3, { expiresAtMs: now + 1000 });
        const later = msg({ expiresAtMs: now + 50_000 });
        q.append([...expiring, later, msg()]);
        expect(q.stats()).to.include({ ready: 5, expired: 0 });
        expect(q.nextDueMs()).to.equal(now + 1000);
        q.processDue(now + 1500, 5);
        expect(q.stats()).to.include({ ready: 2, expired: 3 });
        // Next due: the expiry of the new head.
        expect(q.nextDueMs()).to.equal(now + 50_000);
        store = await reopen();
        q = store.openQueue("t", "exp-sweep", "main");
        expect(q.stats()).to.include({ ready: 2 });
        expect(q.nextDueMs()).to.equal(now + 50_000);
        q.processDue(now + 50_000, 5);
        expect(q.stats()).to.include({ ready: 1, expired: 1 });
      });

      it("stores a dead letter without expiry and returns it with none", () => {
        const q = store.openQueue("t", "exp-dead", "main");
        const dead = store.openQueue("t", "exp-dead", "dead");
        const now = Date.now();
        const a = msg({ expiresAtMs: now + 60_000 });
        q.append([a]);
        q.reserve(1, BIG, now + 100, now);
        const { retriesUsedUp: usedUp } = q.processDue(now + 100, 0);
        expect(ids(usedUp)).to.deep.equal([a.id]);
        dead.append(usedUp.map((m) => ({ ...m, deliverAtMs: 0, expiresAtMs: 0 })));
        q.bury([a.id]);
        const [d] = dead.reserve(1, BIG, 1000, now + 10 * 60_000);
        expect(d!.id).to.equal(a.id);
        expect(d!.expiresAtMs).to.equal(0);
      });
    });

    describe("idempotency keys", () => {
      type Seen = { id: bigint; key: string; createdAtMs: number };
      const recent = (q: ReturnType<Storage["openQueue"]>, sinceMs: number): Seen[] => {
        const byId = new Map<bigint, Seen>();
        q.recentKeys(sinceMs, (id, key, createdAtMs) => byId.set(id, { id, key, createdAtMs }));
        return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
      };

      it("reads back the keys of messages created since a time, across reopen, with their ids", async () => {
        const now = Date.now();
        const q = store.openQueue("keys", "q", "main");
        const old = msg({ createdAtMs: now - 600_000, idempotencyKey: "old" });
        const plain = msg({ createdAtMs: now });
        const a = msg({ createdAtMs: now, idempotencyKey: "order-1" });
        const b = msg({ createdAtMs: now + 1, idempotencyKey: "clé-ü", expiresAtMs: now + 3_600_000 });
        const delayed = msg({ createdAtMs: now + 2, deliverAtMs: now + 3_600_000, idempotencyKey: "later" });
        q.append([old, plain, a, b, delayed]);
        const want = [
          { id: a.id, key: "order-1", createdAtMs: now },
          { id: b.id, key: "clé-ü", createdAtMs: now + 1 },
          { id: delayed.id, key: "later", createdAtMs: now + 2 },
        ];
        expect(recent(q, now - 60_000)).to.deep.equal(want);
        await reopen();
        expect(recent(store.openQueue("keys", "q", "main"), now - 60_000)).to.deep.equal(want);
      });

      it("keeps the key off what is delivered and leaves the message intact", () => {
        const q = store.openQueue("keys", "fields", "main");
        const m = msg({ routeKey: "eu.fr", body: Buffer.from("payload"), createdAtMs: 77, idempotencyKey: "k1", expiresAtMs: Date.now() + 60_000 });
        q.append([m]);
        const [got] = q.reserve(1, BIG, 5000);
        expect(got).to.deep.equal({ id: m.id, routeKey: "eu.fr", body: Buffer.from("payload"), createdAtMs: 77, retry: 0, deadlineMs: 5000, expiresAtMs: m.expiresAtMs });
      });

      it("still reads the key of a message consumed and acked, while its segment is on disk", async () => {
        const now = Date.now();
        const q = store.openQueue("keys", "acked", "main");
        const m = msg({ createdAtMs: now, idempotencyKey: "done" });
        q.append([m]);
        const [got] = q.reserve(1, BIG, now + 60_000);
        expect(q.ack(got!.id)).to.equal(true);
        await reopen();
        expect(recent(store.openQueue("keys", "acked", "main"), now - 1000).map((s) => s.key)).to.deep.equal(["done"]);
      });

      it("keeps the key of a fired delay on its ready copy", async () => {
        const now = Date.now();
        const q = store.openQueue("keys", "fired", "main");
        const m = msg({ createdAtMs: now, deliverAtMs: now + 30, idempotencyKey: "soon" });
        q.append([m]);
        await sleep(40);
        q.processDue(Date.now(), 5);
        const [got] = q.reserve(1, BIG, Date.now() + 60_000);
        expect(got!.id).to.equal(m.id);
        await reopen();
        expect(recent(store.openQueue("keys", "fired", "main"), now - 1000)).to.deep.equal([{ id: m.id, key: "soon", createdAtMs: now }]);
      });

      it("rejects a key longer than the format holds with TOO_LARGE, appending nothing", () => {
        const q = store.openQueue("keys", "huge", "main");
        expect(() => q.append([msg(), msg({ idempotencyKey: "k".repeat(0x10000) })]))
          .to.throw(StoreError)
          .with.property("code", "TOO_LARGE");
        expect(q.stats().ready).to.equal(0);
      });
    });

    describe("priorities", () => {
      const prios = (list: readonly { priority?: number }[]): number[] => list.map((m) => m.priority ?? 0);

      it("delivers the highest priority first and each priority in push order, across calls and within one batch", () => {
        const q = store.openQueue("t", "prio-order", "main");
        const low1 = msg();
        const mid1 = msg({ priority: 5 });
        const high1 = msg({ priority: 9 });
        const low2 = msg({ priority: 0 });
        const mid2 = msg({ priority: 5 });
        q.append([low1, mid1]);
        q.append([high1, low2, mid2]);
        expect(ids(q.peek(10))).to.deep.equal(ids([high1, mid1, mid2, low1, low2]));
        const first = q.reserve(2, BIG, 5000);
        expect(ids(first)).to.deep.equal(ids([high1, mid1]));
        expect(prios(first)).to.deep.equal([9, 5]);
        const high2 = msg({ priority: 9 });
        q.append([high2]);
        const rest = q.reserve(10, BIG, 5000);
        expect(ids(rest)).to.deep.equal(ids([high2, mid2, low1, low2]));
        expect(prios(rest)).to.deep.equal([9, 5, 0, 0]);
      });

      it("keeps a batch across priorities within maxBytes (at least one message)", () => {
        const q = store.openQueue("t", "prio-bytes", "main");
        q.append([msg({ priority: 3, body: Buffer.alloc(100) }), msg({ priority: 1, body: Buffer.alloc(100) }), msg({ priority: 1, body: Buffer.alloc(100) })]);
        expect(prios(q.reserve(10, 150, 1))).to.deep.equal([3]);
        expect(prios(q.reserve(10, 10, 1))).to.deep.equal([1]);
        expect(q.reserve(10, BIG, 1)).to.have.length(1);
      });

      it("keeps the priority of a released, a nack-delayed and a TTR-requeued message: they come back before lower ones", () => {
        const q = store.openQueue("t", "prio-retry", "main");
        const now = Date.now();
        const [h1, h2, h3] = msgs(3, { priority: 7 });
        q.append([h1!, h2!, h3!]);
        const lows = msgs(2, { priority: 2 });
        q.append(lows);
        const l1 = lows[0];
        q.reserve(3, BIG, now + 1000);
        expect(q.release(h1!.id, 0)).to.equal(true);
        expect(q.release(h2!.id, now + 500)).to.equal(true);
        expect(q.stats().priorities).to.deep.equal([
          { priority: 7, ready: 1, inFlight: 1, delayed: 1 },
          { priority: 2, ready: 2, inFlight: 0, delayed: 0 },
          { priority: 0, ready: 0, inFlight: 0, delayed: 0 },
        ]);
        expect(q.retryOf(h3!.id)).to.equal(0);
        expect(q.processDue(now + 1000, 5).requeued).to.equal(1); // h3's TTR; h2's nack delay ends
        const again = q.reserve(4, BIG, now + 9000);
        expect(ids(again)).to.deep.equal(ids([h1!, h2!, h3!, l1!]));
        expect(prios(again)).to.deep.equal([7, 7, 7, 2]);
        expect(again[2]!.retry).to.equal(1);
        expect(q.touch(h3!.id, now + 20_000)).to.equal(true);
        expect(q.ack(h3!.id)).to.equal(true);
        expect(q.ack(again[3]!.id)).to.equal(true);
      });

      it("fires a delayed message at its priority", () => {
        const q = store.openQueue("t", "prio-delay", "main");
        const now = Date.now();
        const low = msg();
        const delayedHigh = msg({ priority: 8, deliverAtMs: now + 10_000 });
        q.append([low, delayedHigh]);
        expect(q.stats()).to.include({ ready: 1, delayed: 1 });
        expect(q.nextDueMs()).to.equal(now + 10_000);
        q.processDue(now + 10_000, 5);
        expect(ids(q.reserve(2, BIG, now + 20_000))).to.deep.equal([delayedHigh.id, low.id]);
      });

      it("returns used-up retries with their priority, and a dead-letter log keeps it", () => {
        const q = store.openQueue("t", "prio-dead", "main");
        const dead = store.openQueue("t", "prio-dead", "dead");
        const a = msg({ priority: 4 });
        const b = msg();
        q.append([a, b]);
        q.reserve(2, BIG, 1000);
        const { retriesUsedUp } = q.processDue(1000, 0);
        expect(ids(retriesUsedUp).sort()).to.deep.equal(ids([a, b]).sort());
        dead.append(retriesUsedUp.map((m) => ({ ...m, deliverAtMs: 0 })));
        q.bury(ids(retriesUsedUp));
        expect(q.stats()).to.include({ ready: 0, inFlight: 0 });
        expect(prios(dead.peek(10))).to.deep.equal([4, 0]);
        const [d] = dead.reserve(1, BIG, 1000);
        expect(d!.id).to.equal(a.id);
        expect(d!.priority).to.equal(4);
      });

      it("keeps every level's order and states across reopen", async () => {
        let q = store.openQueue("t", "prio-reopen", "main");
        const now = Date.now();
        const low = msgs(2);
        const high = msgs(2, { priority: 6 });
        const top = msg({ priority: 9, deliverAtMs: now + 3_600_000 });
        q.append([...low, ...high, top]);
        const [h0] = q.reserve(1, BIG, now + 1000);
        expect(h0!.id).to.equal(high[0]!.id);
        store = await reopen();
        q = store.openQueue("t", "prio-reopen", "main");
        expect(q.stats()).to.include({ ready: 3, inFlight: 1, delayed: 1 });
        expect(q.stats().priorities).to.deep.equal([
          { priority: 9, ready: 0, inFlight: 0, delayed: 1 },
          { priority: 6, ready: 1, inFlight: 1, delayed: 0 },
          { priority: 0, ready: 2, inFlight: 0, delayed: 0 },
        ]);
        q.processDue(now + 1000, 5);
        expect(ids(q.reserve(10, BIG, now + 2000))).to.deep.equal(ids([high[0]!, high[1]!, ...low]));
        q.processDue(now + 3_600_000, 5);
        expect(ids(q.reserve(1, BIG, now + 3_700_000))).to.deep.equal([top.id]);
      });

      it("reports no levels for a queue whose messages all have priority 0", () => {
        const q = store.openQueue("t", "prio-none", "main");
        q.append(msgs(2));
        expect(q.stats().priorities).to.equal(undefined);
      });

      it("reads back idempotency keys of every level", () => {
        const q = store.openQueue("t", "prio-keys", "main");
        const a = msg({ idempotencyKey: "a", createdAtMs: 5000 });
        const b = msg({ idempotencyKey: "b", createdAtMs: 5001, priority: 3 });
        q.append([a, b]);
        const seen: string[] = [];
        q.recentKeys(0, (_id, key) => seen.push(key));
        expect(seen.sort()).to.deep.equal(["a", "b"]);
      });
    });

    describe("inspect and steer single messages", () => {
      const H = (): number => Date.now(); // hint: when the message was appended
      const info = (q: ReturnType<Storage["openQueue"]>, id: bigint) => {
        const r = q.inspect(id, H(), false);
        if (typeof r === "string") throw new Error(`not found: ${r}`);
        return r;
      };

      it("reports ready, delayed, in flight and ready-again messages with their times and fields", () => {
        const q = store.openQueue("t", "inspect", "main");
        const now = Date.now();
        const a = msg({ routeKey: "rk.a", body: Buffer.from("hello") });
        const b = msg();
        const later = msg({ deliverAtMs: now + 60_000 });
        const exp = msg({ expiresAtMs: now + 3_600_000 });
        q.append([a, b, later, exp]);
        expect(info(q, a.id)).to.deep.equal({
          id: a.id, state: "ready", routeKey: "rk.a", createdAtMs: a.createdAtMs, retry: 0, dueAtMs: 0, deadlineMs: 0, expiresAtMs: 0, bodyBytes: 5,
        });
        expect((q.inspect(a.id, H(), true) as { body: Buffer }).body.toString()).to.equal("hello");
        expect(info(q, later.id)).to.include({ state: "delayed", dueAtMs: now + 60_000 });
        expect(info(q, exp.id)).to.include({ state: "ready", expiresAtMs: now + 3_600_000 });
        q.reserve(1, BIG, now + 30_000);
        expect(info(q, a.id)).to.include({ state: "inFlight", deadlineMs: now + 30_000, retry: 0 });
        q.release(a.id, now + 5_000);
        expect(info(q, a.id)).to.include({ state: "delayed", dueAtMs: now + 5_000 });
        q.processDue(now + 5_000, 5);
        expect(info(q, a.id)).to.include({ state: "ready" });
        expect(q.inspect(987_654_321n, H(), false)).to.be.a("string");
      });

      it("removes ready and delayed messages for good, refuses in-flight ones, across a reopen", async () => {
        let q = store.openQueue("t", "remove", "main");
        const now = Date.now();
        const [a, b, c] = msgs(3);
        const d = msg({ deliverAtMs: now + 1000 });
        q.append([a!, b!, c!, d]);
        expect(q.remove(b!.id, H())).to.equal("done");
        expect(q.remove(d.id, H())).to.equal("done");
        expect(q.remove(b!.id, H())).to.equal("missing");
        expect(q.stats()).to.include({ ready: 2, delayed: 0 });
        expect(ids(q.reserve(1, BIG, now + 60_000))).to.deep.equal([a!.id]);
        expect(q.remove(a!.id, H())).to.equal("inFlight");
        await store.commit();
        store = await reopen();
        q = store.openQueue("t", "remove", "main");
        expect(q.stats()).to.include({ ready: 1, delayed: 0, inFlight: 1 });
        q.processDue(now + 2000, 5);
        expect(ids(q.reserve(10, BIG, now + 60_000))).to.deep.equal([c!.id]);
        expect(q.stats()).to.include({ ready: 0, delayed: 0 });
      });

      it("reschedules a delayed or ready message to a new due time, across a reopen", async () => {
        let q = store.openQueue("t", "resched", "main");
        const now = Date.now();
        const [a, b] = msgs(2);
        const d = msg({ deliverAtMs: now + 60_000 });
        q.append([a!, b!, d]);
        expect(q.reschedule(a!.id, H(), now + 20_000)).to.equal("done");
        expect(q.reschedule(d.id, H(), now + 10_000)).to.equal("done");
        expect(info(q, a!.id)).to.include({ state: "delayed", dueAtMs: now + 20_000 });
        expect(info(q, d.id)).to.include({ state: "delayed", dueAtMs: now + 10_000 });
        expect(q.stats()).to.include({ ready: 1, delayed: 2 });
        await store.commit();
        store = await reopen();
        q = store.openQueue("t", "resched", "main");
        expect(q.stats()).to.include({ ready: 1, delayed: 2 });
        expect(ids(q.reserve(10, BIG, now + 100_000))).to.deep.equal([b!.id]);
        q.processDue(now + 10_000, 5);
        expect(ids(q.reserve(10, BIG, now + 100_000))).to.deep.equal([d.id]);
        q.processDue(now + 20_000, 5);
        expect(ids(q.reserve(10, BIG, now + 100_000))).to.deep.equal([a!.id]);
        q.processDue(now + 70_000, 5);
        expect(q.reserve(10, BIG, now + 100_000)).to.deep.equal([]);
        expect(q.reschedule(a!.id, H(), now)).to.equal("inFlight");
      });

      it("moves a ready-again message to later and back", () => {
        const q = store.openQueue("t", "resched-entry", "main");
        const now = Date.now();
        const [a, b] = msgs(2);
        q.append([a!, b!]);
        q.reserve(1, BIG, now + 1000);
        q.release(a!.id, 0);
        expect(q.reschedule(a!.id, H(), now + 5000)).to.equal("done");
        expect(info(q, a!.id)).to.include({ state: "delayed", dueAtMs: now + 5000 });
        expect(ids(q.reserve(10, BIG, now + 100_000))).to.deep.equal([b!.id]);
        q.processDue(now + 5000, 5);
        expect(ids(q.reserve(10, BIG, now + 100_000))).to.deep.equal([a!.id]);
      });

      it("pages through ready and delayed messages without delivering them", () => {
        const q = store.openQueue("t", "list", "main");
        const now = Date.now();
        const ready = msgs(5);
        const delayed = [msg({ deliverAtMs: now + 3000 }), msg({ deliverAtMs: now + 1000 }), msg({ deliverAtMs: now + 2000 })];
        q.append([...ready, ...delayed]);
        q.reserve(1, BIG, now + 1000);
        q.release(ready[0]!.id, 0); // ready again: first in delivery order
        q.remove(ready[2]!.id, H());
        const p1 = q.list("ready", 2, undefined, false);
        expect(ids(p1)).to.deep.equal([ready[0]!.id, ready[1]!.id]);
        const p2 = q.list("ready", 2, { id: p1[1]!.id, hintMs: H() }, true);
        expect(ids(p2)).to.deep.equal([ready[3]!.id, ready[4]!.id]);
        expect(p2[0]!.body!.toString()).to.equal(`body-${ready[3]!.id}`);
        expect(q.list("ready", 2, { id: ready[4]!.id, hintMs: H() }, false)).to.deep.equal([]);
        const d = q.list("delayed", 10, undefined, false);
        expect(ids(d)).to.deep.equal([delayed[1]!.id, delayed[2]!.id, delayed[0]!.id]);
        expect(d.map((m) => m.dueAtMs)).to.deep.equal([now + 1000, now + 2000, now + 3000]);
        expect(ids(q.list("delayed", 1, { id: delayed[1]!.id, hintMs: H() }, false))).to.deep.equal([delayed[2]!.id]);
        expect(q.stats()).to.include({ ready: 4, delayed: 3, inFlight: 0 });
      });

      it("purges ready or delayed messages, returns how many, across a reopen", async () => {
        let q = store.openQueue("t", "purge", "main");
        const now = Date.now();
        q.append([...msgs(4), msg({ deliverAtMs: now + 1000 }), msg({ deliverAtMs: now + 2000 })]);
        const [first] = q.reserve(1, BIG, now + 1000);
        q.release(first!.id, 0);
        const [inflight] = q.reserve(1, BIG, now + 1000);
        expect(q.purge("ready")).to.equal(3);
        expect(q.stats()).to.include({ ready: 0, delayed: 2, inFlight: 1 });
        const fresh = msg();
        q.append([fresh]);
        expect(q.purge("delayed")).to.equal(2);
        await store.commit();
        store = await reopen();
        q = store.openQueue("t", "purge", "main");
        expect(q.stats()).to.include({ ready: 1, delayed: 0, inFlight: 1 });
        q.processDue(now + 5000, 5);
        expect(ids(q.reserve(10, BIG, now + 100_000))).to.deep.equal([inflight!.id, fresh.id]);
      });
    });

    describe("peek", () => {
      it("shows ready messages oldest first without changing their state", () => {
        const q = store.openQueue("t", "peek", "main");
        const list = msgs(4);
        q.append(list);
        const [first] = q.reserve(1, BIG, 1000);
        q.release(first!.id, 0);
        const seen = q.peek(3);
        expect(ids(seen)).to.deep.equal(ids(list.slice(0, 3)));
        expect(seen.every((m) => m.deadlineMs === 0)).to.equal(true);
        expect(q.stats()).to.include({ ready: 4, inFlight: 0 });
        expect(ids(q.reserve(10, BIG, 1))).to.deep.equal(ids(list));
      });
    });

    describe("reopen", () => {
      it("preserves every state: acked, ready, in flight, requeued, nack-delayed, delayed", async () => {
        let q = store.openQueue("t", "states", "main");
        const now = Date.now();
        const list = msgs(8);
        q.append(list.slice(0, 6));
        q.append([msg({ id: list[6]!.id, deliverAtMs: now + 36_000_000 })]);
        q.append([list[7]!]);
        const got = q.reserve(5, BIG, now + 3_600_000);
        q.ack(got[0]!.id); // acked
        q.touch(got[1]!.id, now + 7_200_000); // in flight, touched
        q.release(got[2]!.id, 0); // requeued now
        q.release(got[3]!.id, now + 1_800_000); // nack-delayed
        q.reserve(1, BIG, now + 3_600_000); // list[2] again (requeued first)
        // got[4] stays in flight
        const before = q.stats();
        store = await reopen();
        q = store.openQueue("t", "states", "main");
        expect(q.stats()).to.deep.include({ ready: before.ready, inFlight: before.inFlight, delayed: before.delayed });
        expect(before).to.include({ ready: 2, inFlight: 3, delayed: 2 });
        expect(q.ack(got[0]!.id)).to.equal(false);
        expect(q.nextDueMs()).to.equal(now + 1_800_000);
        expect(ids(q.reserve(10, BIG, now + 100))).to.deep.equal([list[5]!.id, list[7]!.id]);
        // in-flight deadlines survived: got[4] and list[2] at +1h, got[1] at +2h
        const r = q.processDue(now + 3_600_000, 5);
        expect(r.requeued).to.equal(2 + 2); // got[4], got[2] (again), and the two just reserved at +100
        expect(q.stats().delayed).to.equal(1); // the pushed delay; the nack delay fired into ready
        const again = q.reserve(10, BIG, now + 9_000_000);
        expect(ids(again).sort()).to.deep.equal(ids([got[3]!, got[4]!, got[2]!, list[5]!, list[7]!]).sort());
        expect(q.ack(got[1]!.id)).to.equal(true);
      });

      it("redelivers in-flight messages whose deadline passed while closed as retries", async () => {
        let q = store.openQueue("t", "ttr-down", "main");
        q.append(msgs(3));
        const got = q.reserve(2, BIG, Date.now() + 20);
        q.ack(got[1]!.id);
        await store.close();
        await sleep(30);
        store = open(dir);
        q = store.openQueue("t", "ttr-down", "main");
        expect(q.stats()).to.include({ inFlight: 1, ready: 1 });
        expect(q.processDue(Date.now(), 5).requeued).to.equal(1);
        const again = q.reserve(5, BIG, Date.now() + 1000);
        expect(again).to.have.length(2);
        expect(again[0]!.id).to.equal(got[0]!.id);
        expect(again[0]!.retry).to.equal(1);
      });

      it("keeps a large backlog across several segments and reopens", async () => {
        let q = store.openQueue("t", "many", "main");
        const list = msgs(5000, { body: Buffer.alloc(100, 1) });
        for (let i = 0; i < list.length; i += 500) q.append(list.slice(i, i + 500));
        const first = q.reserve(1000, BIG, Date.now() + 60_000);
        for (const m of first) q.ack(m.id);
        store = await reopen();
        q = store.openQueue("t", "many", "main");
        expect(q.stats()).to.include({ ready: 4000, inFlight: 0 });
        const rest: bigint[] = [];
        for (;;) {
          const b = q.reserve(700, BIG, Date.now() + 60_000);
          if (b.length === 0) break;
          for (const m of b) {
            rest.push(m.id);
            q.ack(m.id);
          }
        }
        expect(rest).to.deep.equal(ids(list.slice(1000)));
      });
    });

    describe("queues and metadata", () => {
      it("refuses to use a dropped queue's log", () => {
        const q = store.openQueue("t", "gone", "main");
        q.append(msgs(1));
        store.dropQueue("t", "gone");
        let err: unknown;
        try {
          q.append(msgs(1));
        } catch (e) {
          err = e;
        }
        expect(err).to.be.instanceOf(StoreError);
        expect(store.openQueue("t", "gone", "main").stats().ready).to.equal(0);
      });

      it("returns the same QueueLog for the same queue and keeps main and dead apart", () => {
        const a = store.openQueue("t", "k", "main");
        expect(store.openQueue("t", "k", "main")).to.equal(a);
        const d = store.openQueue("t", "k", "dead");
        expect(d).to.not.equal(a);
        a.append(msgs(2));
        expect(d.stats().ready).to.equal(0);
      });

      it("lists queues with any bind key after reopen, and drops them", async () => {
        const keys = ["#", "*.a.#", "a/b\\c", "..", "ключ", "x".repeat(128), "a b?c=d&e"];
        for (const k of keys) store.openQueue("topic.1", k, "main").append(msgs(1));
        store.openQueue("other", "default", "dead");
        store = await reopen();
        const found = store.queues().map((r) => `${r.topic}/${r.bindKey}`).sort();
        expect(found).to.deep.equal([...keys.map((k) => `topic.1/${k}`), "other/default"].sort());
        for (const k of keys) expect(store.openQueue("topic.1", k, "main").stats().ready).to.equal(1);
        store.dropQueue("topic.1", "#");
        expect(store.queues().some((r) => r.bindKey === "#")).to.equal(false);
        store = await reopen();
        expect(store.queues().some((r) => r.bindKey === "#")).to.equal(false);
        expect(store.openQueue("topic.1", "#", "main").stats().ready).to.equal(0);
      });

      it("stores metadata atomically and lists it", async () => {
        expect(store.readMeta("topic/a")).to.equal(undefined);
        store.writeMeta("topic/a", Buffer.from("{\"ttr\":30}"));
        store.writeMeta("topic/b", Buffer.from("x"));
        store.writeMeta("topic/a", Buffer.from("{\"ttr\":31}"));
        store = await reopen();
        expect(store.readMeta("topic/a")!.toString()).to.equal("{\"ttr\":31}");
        expect(store.metaNames().sort()).to.deep.equal(["topic/a", "topic/b"]);
        store.deleteMeta("topic/b");
        expect(store.metaNames()).to.deep.equal(["topic/a"]);
        const long = `topic.${"é".repeat(300)}`;
        store.writeMeta(long, Buffer.from("L"));
        expect(store.readMeta(long)!.toString()).to.equal("L");
        expect(store.metaNames().sort()).to.deep.equal([long, "topic/a"].sort());
        store.deleteMeta(long);
        expect(store.metaNames()).to.deep.equal(["topic/a"]);
      });
    });

    describe("commit", () => {
      it("resolves for concurrent callers", async () => {
        const q = store.openQueue("t", "commit", "main");
        q.append(msgs(10));
        await Promise.all([store.commit(), store.commit(), store.commit()]);
        q.reserve(5, BIG, 1);
        await store.commit();
      });
    });
  });
}
