import { createHash } from "node:crypto";
import { expect } from "chai";
import { parseAuthFile, RPC_ACTIONS, type Authorizer } from "../../src/api/auth.js";
import { BrokerError } from "../../src/broker/errors.js";
import { BrokerServiceService } from "../../src/gen/gmq/v1/broker.js";

const parse = (doc: unknown): Authorizer => parseAuthFile(JSON.stringify(doc), "auth.json");
const bearer = (t: string) => `Bearer ${t}`;

function codeOf(fn: () => void): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof BrokerError ? err.code : `not a BrokerError: ${String(err)}`;
  }
  return undefined;
}

describe("token auth file and grants", () => {
  const auth = parse({
    tokens: [
      { name: "ops", token: "ops-token-0123456789", admin: ["*"] },
      { name: "producer", token: "producer-token-0123456", push: ["orders", "eu.*.orders"] },
      { name: "digest", tokenSha256: createHash("sha256").update("digest-token-0123456").digest("hex"), consume: ["orders"] },
    ],
  });

  it("names every RPC of BrokerService in its action table", () => {
    const rpcs = Object.values(BrokerServiceService).map((d) => d.path.split("/").pop()!);
    expect(rpcs.filter((r) => !(r in RPC_ACTIONS))).to.deep.equal([]);
    expect(Object.keys(RPC_ACTIONS).filter((r) => !rpcs.includes(r))).to.deep.equal([]);
  });

  it("refuses a missing, malformed or unknown token as UNAUTHENTICATED", () => {
    expect(codeOf(() => auth.authorize(undefined, "push", ["orders"]))).to.equal("UNAUTHENTICATED");
    expect(codeOf(() => auth.authorize("producer-token-0123456", "push", ["orders"]))).to.equal("UNAUTHENTICATED"); // no "Bearer"
    expect(codeOf(() => auth.authorize(bearer("nope-nope-nope-nope"), "push", ["orders"]))).to.equal("UNAUTHENTICATED");
    expect(codeOf(() => auth.authorize("bearer producer-token-0123456", "push", ["orders"]))).to.equal(undefined); // scheme is case-insensitive
  });

  it("grants per action and per topic pattern, * matching any run of characters", () => {
    const p = bearer("producer-token-0123456");
    expect(codeOf(() => auth.authorize(p, "push", ["orders"]))).to.equal(undefined);
    expect(codeOf(() => auth.authorize(p, "push", ["eu.west.orders"]))).to.equal(undefined);
    expect(codeOf(() => auth.authorize(p, "push", ["eu.orders"]))).to.equal("PERMISSION_DENIED");
    expect(codeOf(() => auth.authorize(p, "push", ["orders2"]))).to.equal("PERMISSION_DENIED");
    expect(codeOf(() => auth.authorize(p, "consume", ["orders"]))).to.equal("PERMISSION_DENIED");
    expect(codeOf(() => auth.authorize(bearer("digest-token-0123456"), "consume", ["orders"]))).to.equal(undefined);
  });

  it("keeps node-wide calls for a grant on every topic, and leaves Ping open", () => {
    expect(codeOf(() => auth.authorizeRpc(bearer("ops-token-0123456789"), "ListTopics", {}))).to.equal(undefined);
    expect(codeOf(() => auth.authorizeRpc(bearer("producer-token-0123456"), "ListTopics", {}))).to.equal("PERMISSION_DENIED");
    expect(codeOf(() => auth.authorizeRpc(undefined, "Ping", {}))).to.equal(undefined);
  });

  it("reads the topic of an RPC from its request, and every channel of a Subscribe", () => {
    const d = bearer("digest-token-0123456");
    expect(codeOf(() => auth.authorizeRpc(d, "Ack", { topic: "orders", bindKey: "q", id: 1n }))).to.equal(undefined);
    expect(codeOf(() => auth.authorizeRpc(d, "Ack", { topic: "billing", bindKey: "q", id: 1n }))).to.equal("PERMISSION_DENIED");
    expect(codeOf(() => auth.authorizeRpc(d, "Subscribe", { channels: ["orders"] }))).to.equal(undefined);
    expect(codeOf(() => auth.authorizeRpc(d, "Subscribe", { channels: ["orders", "billing"] }))).to.equal("PERMISSION_DENIED");
    expect(codeOf(() => auth.authorizeRpc(bearer("producer-token-0123456"), "Publish", { channel: "orders", body: Buffer.alloc(0) }))).to.equal(undefined);
  });

  it("lets a trace be read with consume or admin on the topic, and names the token it checked", () => {
    const req = { topic: "orders", id: 1n };
    expect(auth.authorizeRpc(bearer("digest-token-0123456"), "TraceMessage", req)).to.equal("digest");
    expect(auth.authorizeRpc(bearer("ops-token-0123456789"), "TraceMessage", req)).to.equal("ops");
    expect(codeOf(() => auth.authorizeRpc(bearer("producer-token-0123456"), "TraceMessage", req))).to.equal("PERMISSION_DENIED");
    expect(codeOf(() => auth.authorizeRpc(bearer("digest-token-0123456"), "TraceMessage", { topic: "billing", id: 1n }))).to.equal("PERMISSION_DENIED");
  });

  it("asks node-wide admin for an RPC the table does not know yet", () => {
    expect(codeOf(() => auth.authorizeRpc(bearer("producer-token-0123456"), "SomeNewRpc", { topic: "orders" }))).to.equal("PERMISSION_DENIED");
    expect(codeOf(() => auth.authorizeRpc(bearer("ops-token-0123456789"), "SomeNewRpc", { topic: "orders" }))).to.equal(undefined);
  });

  it("refuses a bad file with a message naming the entry at fault", () => {
    const bad = (doc: unknown) => {
      try {
        parse(doc);
      } catch (err) {
        return (err as Error).message;
      }
      throw new Error("expected the file to be refused");
    };
    expect(() => parseAuthFile("{", "auth.json")).to.throw(/auth file auth.json is not valid JSON/);
    expect(bad({})).to.match(/must hold \{"tokens": \[...\]\}/);
    expect(bad({ tokens: [{ name: "a", token: "short" }] })).to.match(/tokens\[0\] \(a\): token must be at least 16 characters/);
    expect(bad({ tokens: [{ name: "a", token: "long-enough-token-1", tokenSha256: "00" }] })).to.match(/exactly one of token and tokenSha256/);
    expect(bad({ tokens: [{ name: "a", tokenSha256: "xyz" }] })).to.match(/tokenSha256 must be 64 hex digits/);
    expect(bad({ tokens: [{ name: "a", token: "long-enough-token-1", push: "orders" }] })).to.match(/push must be a list of topic patterns/);
    expect(bad({ tokens: [{ name: "a", token: "long-enough-token-1", publish: ["x"] }] })).to.match(/unknown key publish/);
    expect(bad({ tokens: [{ token: "long-enough-token-1" }] })).to.match(/name must be a non-empty string/);
    expect(
      bad({
        tokens: [
          { name: "a", token: "long-enough-token-1" },
          { name: "b", token: "long-enough-token-1" },
        ],
      }),
    ).to.match(/token of b is given twice/);
  });

  it("treats regex characters in patterns literally", () => {
    const a = parse({ tokens: [{ name: "x", token: "x-token-0123456789ab", push: ["a.b", "(c)+"] }] });
    const x = bearer("x-token-0123456789ab");
    expect(codeOf(() => a.authorize(x, "push", ["a.b"]))).to.equal(undefined);
    expect(codeOf(() => a.authorize(x, "push", ["axb"]))).to.equal("PERMISSION_DENIED");
    expect(codeOf(() => a.authorize(x, "push", ["(c)+"]))).to.equal(undefined);
    expect(codeOf(() => a.authorize(x, "push", ["cc"]))).to.equal("PERMISSION_DENIED");
  });
});
