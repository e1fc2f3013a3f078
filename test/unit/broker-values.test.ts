import { expect } from "chai";
import { BrokerError } from "../../src/broker/errors.js";
import { checkIdempotencyKey, DedupWindow } from "../../src/broker/dedup.js";
import { checkBindKey, checkTopic } from "../../src/broker/names.js";
import { nodeIdOf, Snowflake, timeOf } from "../../src/broker/snowflake.js";
import {
  applyConfigPatch,
  decodeTopicMeta,
  DEFAULT_TOPIC_CONFIG,
  encodeTopicMeta,
  MAX_RETRY_BACKOFF_MS,
  MAX_TTL_MS,
  retryBackoffMs,
} from "../../src/broker/topic-config.js";

describe("snowflake ids", () => {
  it("embed the node id and the time, and grow strictly", () => {
    const ids = new Snowflake(1024);
    const now = Date.now();
    let last = 0n;
    for (let i = 0; i < 10_000; i++) {
      const id = ids.next(now);
      expect(id > last).to.equal(true);
      last = id;
    }
    expect(nodeIdOf(last)).to.equal(1024);
    expect(timeOf(last)).to.be.within(now, now + 10);
  });

  it("never repeat when the clock steps back", () => {
    const ids = new Snowflake(7);
    const a = ids.next(2_000_000_000_000);
    const b = ids.next(1_900_000_000_000);
    expect(b > a).to.equal(true);
  });

  it("refuse node ids outside 1..1024", () => {
    expect(() => new Snowflake(0)).to.throw(RangeError);
    expect(() => new Snowflake(1025)).to.throw(RangeError);
  });
});

describe("names", () => {
  it("accept topics of letters, digits, '.', '_' and '-' up to 128 characters", () => {
    checkTopic("order.events_v2-eu");
    checkTopic("x".repeat(128));
    for (const bad of ["", "x".repeat(129), "a b", "a/b", "ü"]) expect(() => checkTopic(bad), bad).to.throw(BrokerError);
  });

  it("accept free-form bind keys without control characters", () => {
    checkBindKey("order.*.paid");
    checkBindKey("#");
    for (const bad of ["", "a\nb", "k".repeat(257)]) expect(() => checkBindKey(bad)).to.throw(BrokerError);
  });
});

describe("duplicate window", () => {
  it("answers a key within the window from its first push, and forgets it after", () => {
    const w = new DedupWindow();
    w.remember("k", 7n, 1000);
    expect(w.lookup("k", 1000 + 299, 300)).to.equal(7n);
    expect(w.lookup("k", 1000 + 300, 300)).to.equal(undefined);
    expect(w.size).to.equal(0);
  });

  it("expires keys in push order from the head, keeping those still inside", () => {
    const w = new DedupWindow();
    for (let i = 0; i < 10; i++) w.remember(`k${i}`, BigInt(i), i * 100);
    w.sweep(1000, 500); // keeps pushes at 600..900
    expect(w.size).to.equal(4);
    expect(w.lookup("k6", 1000, 500)).to.equal(6n);
    w.remember("k0", 100n, 1000); // reused after its window: to the tail
    w.sweep(1450, 500); // k6..k9 are out; k0, pushed again at 1000, stays
    expect(w.size).to.equal(1);
    expect(w.lookup("k0", 1450, 500)).to.equal(100n);
  });

  it("forgets a key whose push failed, unless it was claimed again since", () => {
    const w = new DedupWindow();
    w.remember("k", 1n, 0);
    w.forget("k", 2n);
    expect(w.lookup("k", 1, 100)).to.equal(1n);
    w.forget("k", 1n);
    expect(w.lookup("k", 1, 100)).to.equal(undefined);
  });

  it("accepts keys up to 256 bytes of UTF-8, empty meaning none", () => {
    checkIdempotencyKey("");
    checkIdempotencyKey("k".repeat(256));
    checkIdempotencyKey("é".repeat(128));
    for (const bad of ["k".repeat(257), "é".repeat(129)]) {
      expect(() => checkIdempotencyKey(bad)).to.throw(BrokerError).with.property("code", "INVALID_ARGUMENT");
    }
  });

  it("defaults to 2 minutes; 0 (off) up to 24 h are accepted", () => {
    expect(DEFAULT_TOPIC_CONFIG.dedupWindowMs).to.equal(120_000);
    expect(applyConfigPatch({ ...DEFAULT_TOPIC_CONFIG }, { dedupWindowMs: 0 }).dedupWindowMs).to.equal(0);
    expect(applyConfigPatch({ ...DEFAULT_TOPIC_CONFIG }, { dedupWindowMs: 86_400_000 }).dedupWindowMs).to.equal(86_400_000);
    for (const dedupWindowMs of [-1, 1.5, 86_400_001]) {
      expect(() => applyConfigPatch({ ...DEFAULT_TOPIC_CONFIG }, { dedupWindowMs })).to.throw(BrokerError);
    }
  });
});

describe("topic config", () => {
  it("changes only the fields given", () => {
    const c = applyConfigPatch({ ...DEFAULT_TOPIC_CONFIG }, { msgTtrS: 5 });
    expect(c).to.deep.equal({ autoAck: false, routeMode: "full", msgTtrS: 5, msgRetry: 5, retryBackoffMs: 0, retryBackoffMaxMs: 0, msgTtlMs: 0, dedupWindowMs: 120_000, defaultPriority: 0, trace: false, traceRetentionMs: 86_400_000, traceRetentionBytes: 67_108_864 });
  });

  it("rejects out-of-range values", () => {
    expect(() => applyConfigPatch({ ...DEFAULT_TOPIC_CONFIG }, { msgTtrS: 0 })).to.throw(BrokerError);
    expect(() => applyConfigPatch({ ...DEFAULT_TOPIC_CONFIG }, { msgRetry: -1 })).to.throw(BrokerError);
  });

  it("accepts a retry backoff up to 24 h with a cap of 0 (none) or at least the base", () => {
    let c = applyConfigPatch({ ...DEFAULT_TOPIC_CONFIG }, { retryBackoffMs: 200 });
    expect(c).to.include({ retryBackoffMs: 200, retryBackoffMaxMs: 0 });
    c = applyConfigPatch(c, { retryBackoffMaxMs: 200 });
    expect(c).to.include({ retryBackoffMs: 200, retryBackoffMaxMs: 200 });
    c = applyConfigPatch(c, { retryBackoffMs: MAX_RETRY_BACKOFF_MS, retryBackoffMaxMs: MAX_RETRY_BACKOFF_MS });
    expect(c).to.include({ retryBackoffMs: 86_400_000, retryBackoffMaxMs: 86_400_000 });
    c = applyConfigPatch(c, { retryBackoffMs: 0 });
    expect(c).to.include({ retryBackoffMs: 0, retryBackoffMaxMs: 86_400_000 });
  });

  it("rejects a retry backoff over 24 h, negative or fractional, or a cap below the base", () => {
    const base = applyConfigPatch({ ...DEFAULT_TOPIC_CONFIG }, { retryBackoffMs: 500, retryBackoffMaxMs: 1000 });
    for (const patch of [
      { retryBackoffMs: MAX_RETRY_BACKOFF_MS + 1 },
      { retryBackoffMaxMs: MAX_RETRY_BACKOFF_MS + 1 },
      { retryBackoffMs: -1 },
      { retryBackoffMs: 1.5 },
      { retryBackoffMaxMs: 499 },
      { retryBackoffMs: 1001 },
    ]) {
      expect(() => applyConfigPatch(base, patch), JSON.stringify(patch))
        .to.throw(BrokerError)
        .with.property("code", "INVALID_ARGUMENT");
    }
  });

  it("accepts a default message TTL of 0 (never expire) up to 366 days and rejects others", () => {
    let c = applyConfigPatch({ ...DEFAULT_TOPIC_CONFIG }, { msgTtlMs: 500 });
    expect(c.msgTtlMs).to.equal(500);
    c = applyConfigPatch(c, { msgTtlMs: MAX_TTL_MS });
    expect(c.msgTtlMs).to.equal(MAX_TTL_MS);
    expect(applyConfigPatch(c, { msgTtlMs: 0 }).msgTtlMs).to.equal(0);
    for (const msgTtlMs of [-1, 1.5, MAX_TTL_MS + 1]) {
      expect(() => applyConfigPatch(c, { msgTtlMs }), String(msgTtlMs)).to.throw(BrokerError).with.property("code", "INVALID_ARGUMENT");
    }
    // A topic persisted before msg_ttl_ms existed reads as "never expire".
    const old = Buffer.from(JSON.stringify({ config: { autoAck: false, routeMode: "full", msgTtrS: 30, msgRetry: 5 }, createdAtMs: 1, bindKeys: [] }));
    expect(decodeTopicMeta(old, 0).config.msgTtlMs).to.equal(0);
  });

  it("waits base * 2^(n-1) before the n-th redelivery, up to the cap, and not at all when off", () => {
    const on = { ...DEFAULT_TOPIC_CONFIG, retryBackoffMs: 200, retryBackoffMaxMs: 1000 };
    expect([1, 2, 3, 4, 5, 1000].map((n) => retryBackoffMs(on, n))).to.deep.equal([200, 400, 800, 1000, 1000, 1000]);
    const uncapped = { ...on, retryBackoffMaxMs: 0 };
    expect(retryBackoffMs(uncapped, 6)).to.equal(6400);
    expect(retryBackoffMs(uncapped, 1000)).to.equal(MAX_RETRY_BACKOFF_MS);
    expect(retryBackoffMs({ ...DEFAULT_TOPIC_CONFIG }, 3)).to.equal(0);
  });

  it("round-trips its persisted form and falls back to defaults for missing fields", () => {
    const meta = { config: { ...DEFAULT_TOPIC_CONFIG, autoAck: true, retryBackoffMs: 250, retryBackoffMaxMs: 4000 }, createdAtMs: 123, bindKeys: ["a", "b"] };
    expect(decodeTopicMeta(encodeTopicMeta(meta), 0)).to.deep.equal(meta);
    expect(decodeTopicMeta(Buffer.from("{}"), 0).config).to.deep.equal(DEFAULT_TOPIC_CONFIG);
  });
});
