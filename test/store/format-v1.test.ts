// A data directory written by the store of commit c4af01c (see
// test/fixtures/make-queue-data-v1.ts) opens unchanged: every state it holds
// (acked, requeued, nack-delayed, in flight with a touched deadline, delayed,
// dead letter, expiry, idempotency keys, metadata) reads back exactly.
import { expect } from "chai";
import * as fs from "node:fs";
import { join } from "node:path";
import type { Storage, StoredMessage } from "../../src/broker/storage.js";
import { openStorage } from "../../src/store/index.js";
import { tempDir } from "./helpers.js";

const FIXTURE = join(import.meta.dirname, "..", "fixtures", "queue-data-v1");
const FAR = 4_102_444_800_000;
const BIG = 1 << 30;

const summary = (list: readonly StoredMessage[]): [number, number, string][] =>
  list.map((m) => [Number(m.id), m.retry, m.body.toString()]);

describe("store format v1 (a data dir written by c4af01c)", () => {
  let store: Storage;
  beforeEach(() => {
    const dir = tempDir("format-v1");
    fs.cpSync(FIXTURE, dir, { recursive: true });
    store = openStorage({ dataDir: dir, segmentBytes: 64 << 10 });
  });
  afterEach(async () => {
    await store.close();
  });

  it("lists the queue and reads its metadata", () => {
    expect(store.queues()).to.deep.equal([{ topic: "orders", bindKey: "eu.#" }]);
    expect(store.metaNames()).to.deep.equal(["topic.orders"]);
    expect(JSON.parse(store.readMeta("topic.orders")!.toString()).bindKeys).to.deep.equal(["eu.#"]);
  });

  it("counts ready, in-flight and delayed messages as they were left", () => {
    const s = store.openQueue("orders", "eu.#", "main").stats();
    expect({ ready: s.ready, inFlight: s.inFlight, delayed: s.delayed }).to.deep.equal({ ready: 4, inFlight: 1, delayed: 3 });
  });

  it("keeps the nacked message first and the never-delivered ones in order, with every field", () => {
    const q = store.openQueue("orders", "eu.#", "main");
    expect(summary(q.peek(10))).to.deep.equal([
      [105, 0, "body-105"],
      [107, 0, "body-107"],
      [108, 0, "body-108"],
      [109, 0, "body-109"],
    ]);
    const got = q.reserve(10, BIG, FAR + 100_000, 10_000);
    expect(got.map((m) => Number(m.id))).to.deep.equal([105, 107, 108, 109]);
    expect(got[3]).to.deep.equal({
      id: 109n,
      routeKey: "eu.fr",
      body: Buffer.from("body-109"),
      createdAtMs: 1_700_000_000_109,
      retry: 0,
      deadlineMs: FAR + 100_000,
      expiresAtMs: FAR,
    });
  });

  it("keeps the in-flight message with its touched deadline and retry count", () => {
    const q = store.openQueue("orders", "eu.#", "main");
    expect(q.retryOf(104n)).to.equal(1);
    expect(q.processDue(FAR + 6999, 5).requeued).to.equal(0);
    expect(q.retryOf(104n)).to.equal(1);
    expect(q.processDue(FAR + 7000, 5).requeued).to.equal(1);
    expect(q.retryOf(104n)).to.equal(undefined);
  });

  it("fires the nack delay and the push delays at their times, in order", () => {
    const q = store.openQueue("orders", "eu.#", "main");
    expect(q.nextDueMs()).to.equal(FAR);
    q.reserve(10, BIG, FAR + 100_000, 10_000);
    expect(q.ack(104n)).to.equal(true);
    q.processDue(FAR + 6000, 5);
    expect(summary(q.reserve(10, BIG, FAR + 100_000, FAR + 6000))).to.deep.equal([
      [102, 1, "body-102"],
      [201, 0, "body-201"],
      [202, 0, "body-202"],
    ]);
    expect(q.stats()).to.include({ ready: 0, inFlight: 7, delayed: 0 });
  });

  it("keeps the acked messages settled", () => {
    const q = store.openQueue("orders", "eu.#", "main");
    for (const id of [101n, 103n, 106n]) expect(q.ack(id)).to.equal(false);
    q.processDue(FAR + 1e9, 5);
    const seen = new Set<number>();
    for (let b = q.reserve(100, BIG, FAR + 2e9, FAR + 1e9); b.length > 0; b = q.reserve(100, BIG, FAR + 2e9, FAR + 1e9)) {
      for (const m of b) seen.add(Number(m.id));
    }
    expect([...seen].sort()).to.deep.equal([102, 104, 105, 107, 108, 201, 202]);
  });

  it("holds the message whose retries were used up as a dead letter, with its retry count", () => {
    const dead = store.openQueue("orders", "eu.#", "dead");
    expect(dead.stats()).to.include({ ready: 1, inFlight: 0, delayed: 0 });
    const [m] = dead.reserve(10, BIG, FAR, 10_000);
    expect(summary([m!])).to.deep.equal([[103, 2, "body-103"]]);
    expect(m!.expiresAtMs).to.equal(0);
  });

  it("reads back the idempotency keys stored with the messages", () => {
    const q = store.openQueue("orders", "eu.#", "main");
    const keys: [number, string, number][] = [];
    q.recentKeys(0, (id, key, at) => keys.push([Number(id), key, at]));
    expect(keys).to.deep.equal([
      [201, "delayed-201", 1_700_000_000_201],
      [109, "order-109", 1_700_000_000_109],
    ]);
  });
});
