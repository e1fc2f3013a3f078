import { expect } from "chai";
import { BrokerError } from "../../src/broker/errors.js";
import { checkBindKey, checkTopic } from "../../src/broker/names.js";
import { nodeIdOf, Snowflake, timeOf } from "../../src/broker/snowflake.js";
import { applyConfigPatch, decodeTopicMeta, DEFAULT_TOPIC_CONFIG, encodeTopicMeta } from "../../src/broker/topic-config.js";

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

describe("topic config", () => {
  it("changes only the fields given", () => {
    const c = applyConfigPatch({ ...DEFAULT_TOPIC_CONFIG }, { msgTtrS: 5 });
    expect(c).to.deep.equal({ autoAck: false, routeMode: "full", msgTtrS: 5, msgRetry: 5 });
  });

  it("rejects out-of-range values", () => {
    expect(() => applyConfigPatch({ ...DEFAULT_TOPIC_CONFIG }, { msgTtrS: 0 })).to.throw(BrokerError);
    expect(() => applyConfigPatch({ ...DEFAULT_TOPIC_CONFIG }, { msgRetry: -1 })).to.throw(BrokerError);
  });

  it("round-trips its persisted form and falls back to defaults for missing fields", () => {
    const meta = { config: { ...DEFAULT_TOPIC_CONFIG, autoAck: true }, createdAtMs: 123, bindKeys: ["a", "b"] };
    expect(decodeTopicMeta(encodeTopicMeta(meta))).to.deep.equal(meta);
    expect(decodeTopicMeta(Buffer.from("{}")).config).to.deep.equal(DEFAULT_TOPIC_CONFIG);
  });
});
