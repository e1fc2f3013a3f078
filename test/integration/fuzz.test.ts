// A CI-sized run of scripts/fuzz.ts against a real node: random and mutated
// gRPC input on every method and stream, hostile HTTP requests on every route,
// malformed requests on raw sockets, hostile names. The long run is
// `node --import tsx scripts/fuzz.ts` (see its header).
import { expect } from "chai";
import { runFuzz, type FuzzReport } from "../../scripts/fuzz.js";
import { startNodeProcess, type NodeProcess } from "../helpers/node-process.js";

describe("fuzzing a real node (CI-sized)", function () {
  this.timeout(120_000);
  let node: NodeProcess;
  let report: FuzzReport;

  before(async () => {
    node = await startNodeProcess({ args: ["--log-level", "warn"] });
    report = await runFuzz(node, { grpcInputs: 1500, httpInputs: 800, rawSockets: 200, seed: 11 });
  });
  after(async () => {
    await node?.stop();
    node?.cleanup();
  });

  it("survives every input: the node is still running", () => {
    expect(report.crashed).to.equal(false);
    expect(report.grpcInputs).to.equal(1500);
    expect(report.httpInputs).to.equal(800);
    expect(report.rawSockets).to.equal(200);
  });

  it("answers every gRPC call with a status other than INTERNAL or UNKNOWN, and none hangs", () => {
    expect(report.internal).to.deep.equal({});
    expect(report.hangs).to.equal(0);
  });

  it("never answers an HTTP request with 500 or above", () => {
    expect(report.http5xx).to.deep.equal({});
  });

  it("keeps the node's RSS within 2x of its start", () => {
    expect(report.rssEndBytes).to.be.at.most(2 * report.rssStartBytes);
  });
});
