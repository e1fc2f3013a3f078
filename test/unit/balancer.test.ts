import { expect } from "chai";
import { createBalancer, pickByKey } from "../../src/client/balancer.js";
import type { NodeInfo } from "../../src/client/node-info.js";
import { parseNodeRecord, staticNode } from "../../src/client/node-info.js";

const node = (key: string, weight: number): NodeInfo => ({
  key,
  nodeId: undefined,
  weight,
  grpcAddr: key,
  httpAddr: "",
  version: "",
  startedAtMs: 0,
});

function counts(strategy: "weighted" | "random" | "round-robin", nodes: NodeInfo[], n: number, random?: () => number) {
  const b = createBalancer(strategy, random);
  const c: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const k = b.pick(nodes)!.key;
    c[k] = (c[k] ?? 0) + 1;
  }
  return c;
}

describe("balancer", () => {
  it("weighted: shares follow the weights exactly (1:3 over 4,000 picks gives 1,000 : 3,000)", () => {
    expect(counts("weighted", [node("a", 1), node("b", 3)], 4000)).to.deep.equal({ a: 1000, b: 3000 });
  });

  it("weighted: interleaves rather than bursting to the heavy node", () => {
    const b = createBalancer("weighted");
    const nodes = [node("a", 1), node("b", 3)];
    const seq = Array.from({ length: 8 }, () => b.pick(nodes)!.key).join("");
    expect(seq).to.not.include("bbbb");
    expect(seq.split("a").length - 1).to.equal(2);
  });

  it("weighted: adapts when a node leaves and another joins", () => {
    const b = createBalancer("weighted");
    for (let i = 0; i < 10; i++) b.pick([node("a", 1), node("b", 1)]);
    const c: Record<string, number> = {};
    for (let i = 0; i < 300; i++) {
      const k = b.pick([node("b", 1), node("c", 2)])!.key;
      c[k] = (c[k] ?? 0) + 1;
    }
    expect(c).to.deep.equal({ b: 100, c: 200 });
  });

  it("round-robin: each node in turn, ignoring weights", () => {
    expect(counts("round-robin", [node("a", 1), node("b", 5), node("c", 1)], 300)).to.deep.equal({ a: 100, b: 100, c: 100 });
  });

  it("random: uniform, driven by the random source", () => {
    let x = 0;
    const seq = () => ((x = (x + 0.37) % 1), x);
    const c = counts("random", [node("a", 1), node("b", 9)], 1000, seq);
    expect(c["a"]).to.be.within(400, 600);
    expect(c["b"]).to.be.within(400, 600);
  });

  it("returns undefined when there is no node", () => {
    for (const s of ["weighted", "random", "round-robin"] as const) expect(createBalancer(s).pick([])).to.equal(undefined);
  });
});

describe("node choice by idempotency key", () => {
  const nodes = ["a:1", "b:1", "c:1"].map((k) => node(k, 1));
  const keys = Array.from({ length: 3000 }, (_, i) => `order-${i}`);

  it("sends the same key to the same node, whatever the order of the candidates", () => {
    for (const k of keys.slice(0, 100)) {
      expect(pickByKey(k, nodes)!.key).to.equal(pickByKey(k, [...nodes].reverse())!.key);
    }
  });

  it("spreads keys over the nodes", () => {
    const c: Record<string, number> = {};
    for (const k of keys) c[pickByKey(k, nodes)!.key] = (c[pickByKey(k, nodes)!.key] ?? 0) + 1;
    for (const n of nodes) expect(c[n.key]).to.be.within(800, 1200);
  });

  it("moves only the keys of a node that is gone", () => {
    const without = nodes.filter((n) => n.key !== "b:1");
    for (const k of keys) {
      const before = pickByKey(k, nodes)!.key;
      if (before !== "b:1") expect(pickByKey(k, without)!.key).to.equal(before);
    }
    expect(pickByKey("x", [])).to.equal(undefined);
  });
});

describe("node records", () => {
  it("parses what a node registers in etcd", () => {
    const n = parseNodeRecord('{"node_id":3,"weight":2,"grpc_addr":"127.0.0.1:1","http_addr":"127.0.0.1:2","version":"0.1.0","started_at":5}');
    expect(n).to.deep.equal({ key: "node-3", nodeId: 3, weight: 2, grpcAddr: "127.0.0.1:1", httpAddr: "127.0.0.1:2", version: "0.1.0", startedAtMs: 5 });
  });

  it("rejects records without a gRPC address, and reads host:port@weight", () => {
    expect(parseNodeRecord("{}")).to.equal(undefined);
    expect(parseNodeRecord("not json")).to.equal(undefined);
    expect(staticNode("127.0.0.1:9503@4")).to.include({ key: "127.0.0.1:9503", weight: 4 });
  });
});
