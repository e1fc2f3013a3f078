// While a node recovers its data dir, its servers already listen: /readyz
// answers 503, gRPC health is NOT_SERVING and calls fail with UNAVAILABLE
// (reason RECOVERING);
// once recovered, all turn ready. The recovering phase is held open by the
// GMQ_TEST_HOLD_RECOVERY seam, so the test does not depend on speed.
import { expect } from "chai";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import * as fs from "node:fs";
import { join } from "node:path";
import { protoPath as healthProtoPath } from "grpc-health-check";
import { reasonFromTrailers } from "../../src/client/errors.js";
import { connect, uniqueTopic } from "../helpers/grpc-client.js";
import { startNodeProcess, tempDataDir } from "../helpers/node-process.js";
import { waitFor } from "../helpers/wait-for.js";

/** The gRPC status code and reason a call failed with (fails the test if it succeeded). */
async function failureOf(p: Promise<unknown>): Promise<{ code: grpc.status; reason: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as grpc.ServiceError;
    return { code: e.code, reason: reasonFromTrailers(e.metadata) };
  }
  throw new Error("expected the call to fail");
}

function healthClient(addr: string): { check(service: string): Promise<string>; close(): void } {
  const def = protoLoader.loadSync(healthProtoPath, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  const Health = (grpc.loadPackageDefinition(def) as any).grpc.health.v1.Health as grpc.ServiceClientConstructor;
  const client = new Health(addr, grpc.credentials.createInsecure()) as any;
  return {
    check: (service) =>
      new Promise((resolve, reject) => client.Check({ service }, (err: Error | null, r: { status: string }) => (err ? reject(err) : resolve(r.status)))),
    close: () => client.close(),
  };
}

describe("readiness during recovery", function () {
  this.timeout(120_000);

  it("answers /readyz 503 and gRPC health NOT_SERVING while the data dir is recovered, then 200 and SERVING with the data intact", async () => {
    const dataDir = tempDataDir();
    const topics = Array.from({ length: 20 }, () => uniqueTopic());
    let node = await startNodeProcess({ dataDir });
    let c = connect(node.grpcAddr);
    for (const topic of topics) {
      await c.call("declareQueue", { topic, bindKey: "q" });
      await c.call("pushBatch", { topic, messages: Array.from({ length: 50 }, (_, i) => ({ routeKey: "q", body: Buffer.from(`m${i}`) })) });
    }
    c.close();
    expect(await node.stop()).to.equal(0);

    const hold = join(dataDir, "..", `${dataDir.split("/").pop()}-hold`);
    fs.writeFileSync(hold, "");
    node = await startNodeProcess({ dataDir, until: "recovering", env: { GMQ_TEST_HOLD_RECOVERY: hold } });
    const base = `http://${node.httpAddr}`;
    const health = healthClient(node.grpcAddr);
    c = connect(node.grpcAddr);
    try {
      const readyz = await fetch(`${base}/readyz`);
      expect(readyz.status).to.equal(503);
      expect(await readyz.json()).to.deep.equal({ ready: false });
      expect((await fetch(`${base}/healthz`)).status).to.equal(200);
      expect((await fetch(`${base}/metrics`)).status).to.equal(200);
      expect(await health.check("")).to.equal("NOT_SERVING");
      expect(await health.check("gmq.v1.BrokerService")).to.equal("NOT_SERVING");
      expect(await failureOf(c.call("push", { topic: topics[0], routeKey: "q", body: Buffer.from("x") }))).to.deep.equal({
        code: grpc.status.UNAVAILABLE,
        reason: "RECOVERING",
      });
      const listed = await fetch(`${base}/v1/topics`);
      expect(listed.status).to.equal(503);
      expect(await listed.json()).to.include({ code: "UNAVAILABLE", reason: "RECOVERING" });
      expect(node.logs.some((l) => l.includes('"msg":"recovered"'))).to.equal(false);

      fs.rmSync(hold);
      await waitFor(async () => (await fetch(`${base}/readyz`)).status === 200, { what: "/readyz to answer 200 once recovered" });
      await waitFor(() => node.logs.some((l) => l.includes('"msg":"listening"')), { what: "the listening log line" });
      const order = node.logs.map((l) => (JSON.parse(l) as { msg: string }).msg).filter((m) => ["recovering", "recovered", "listening"].includes(m));
      expect(order).to.deep.equal(["recovering", "recovered", "listening"]);
      expect(await health.check("gmq.v1.BrokerService")).to.equal("SERVING");
      for (const topic of topics) {
        const stat = await c.call<object, { stat: { queues: { ready: bigint }[] } }>("getTopicStat", { topic });
        expect(Number(stat.stat.queues[0]!.ready)).to.equal(50);
      }
    } finally {
      health.close();
      c.close();
      fs.rmSync(hold, { force: true });
      await node.stop();
      node.cleanup();
    }
  });
});
