// DeleteTopic over gRPC and the gateway against a real node: the topic goes
// with its queues, their messages and its config; consumers are ended, not
// waited for; the deletion survives a restart; the segment files' space is
// returned even to a process that still holds them open.
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { reasonFromTrailers } from "../../src/client/errors.js";
import type { ConsumeResponse, GetTopicStatResponse, ListTopicsResponse } from "../../src/gen/gmq/v1/broker.js";
import { encodeName } from "../../src/store/file-storage.js";
import { connect, grpc, uniqueTopic, type Client } from "../helpers/grpc-client.js";
import { call } from "../helpers/http.js";
import { startNodeProcess, tempDataDir, type NodeProcess } from "../helpers/node-process.js";
import { waitFor } from "../helpers/wait-for.js";

const S = grpc.status;

/** The code and reason a call failed with (fails the test if it succeeded). */
async function failure(p: Promise<unknown>): Promise<[grpc.status, string]> {
  try {
    await p;
  } catch (err) {
    const e = err as grpc.ServiceError;
    return [e.code, reasonFromTrailers(e.metadata)];
  }
  throw new Error("expected the call to fail");
}

/** Every regular file under dir. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

describe("DeleteTopic (real node)", function () {
  this.timeout(90_000);
  const dataDir = tempDataDir();
  let node: NodeProcess;
  let client: Client;
  let base: string;

  before(async () => {
    node = await startNodeProcess({ dataDir });
    client = connect(node.grpcAddr);
    base = `http://${node.httpAddr}`;
  });
  after(async () => {
    client?.close();
    await node?.stop();
    node?.cleanup();
  });

  const topicExists = async (topic: string) =>
    (await client.call<object, ListTopicsResponse>("listTopics", {})).topics.some((t) => t.topic === topic);

  it("deletes a topic with its queues over gRPC, ends its consumers, and answers TOPIC_NOT_FOUND afterwards", async () => {
    const topic = uniqueTopic("del");
    await client.call("config", { topic, msgRetry: 2 });
    for (const bindKey of ["b", "a"]) await client.call("declareQueue", { topic, bindKey });
    await client.call("pushBatch", { topic, messages: [{ routeKey: "a", body: Buffer.from("ready") }, { routeKey: "b", body: Buffer.from("later"), delayMs: 600_000n }] });
    const stream = client.consume();
    const got: ConsumeResponse[] = [];
    const ended = new Promise<grpc.ServiceError>((resolve) => stream.on("error", resolve));
    stream.on("data", (r: ConsumeResponse) => got.push(r));
    stream.write({ kind: { $case: "subscribe", value: { topic, bindKey: "a", maxInFlight: 10, maxBatchBytes: 0 } } });
    await waitFor(() => got.some((r) => r.messages.length > 0), { what: "the consumer holding the ready message" });

    const reply = await client.call<object, { bindKeys: string[] }>("deleteTopic", { topic });
    expect(reply.bindKeys).to.deep.equal(["a", "b"]);
    const err = await ended;
    expect([err.code, reasonFromTrailers(err.metadata)]).to.deep.equal([S.NOT_FOUND, "QUEUE_NOT_FOUND"]);
    expect(await topicExists(topic)).to.equal(false);
    expect(await failure(client.call("getTopicStat", { topic }))).to.deep.equal([S.NOT_FOUND, "TOPIC_NOT_FOUND"]);
    expect(await failure(client.call("deleteTopic", { topic }))).to.deep.equal([S.NOT_FOUND, "TOPIC_NOT_FOUND"]);

    // Used again, the name is a new topic: no old queue, message or config.
    await client.call("declareQueue", { topic, bindKey: "a" });
    const { stat } = await client.call<object, GetTopicStatResponse>("getTopicStat", { topic });
    expect(stat?.queues.map((q) => [q.bindKey, Number(q.ready), Number(q.delayed)])).to.deep.equal([["a", 0, 0]]);
    expect(stat?.config?.msgRetry).to.equal(5);
  });

  it("is served by the gateway at DELETE /v1/topics/{topic} and listed in /openapi.json", async () => {
    const topic = uniqueTopic("gw");
    expect((await call(base, "PUT", `/v1/topics/${topic}/queues/q`)).status).to.equal(200);
    const deleted = await call(base, "DELETE", `/v1/topics/${topic}`);
    expect([deleted.status, deleted.body]).to.deep.equal([200, { bindKeys: ["q"] }]);
    const again = await call(base, "DELETE", `/v1/topics/${topic}`);
    expect([again.status, again.body.code, again.body.reason]).to.deep.equal([404, "NOT_FOUND", "TOPIC_NOT_FOUND"]);
    const openapi = await call(base, "GET", "/openapi.json");
    expect(openapi.body.paths["/v1/topics/{topic}"]?.delete?.operationId).to.equal("DeleteTopic");
  });

  it("stays deleted after a restart, and returns the segments' space even to a process holding them open", async () => {
    const topic = uniqueTopic("durable");
    const kept = uniqueTopic("kept");
    for (const t of [topic, kept]) await client.call("declareQueue", { topic: t, bindKey: "q" });
    const body = Buffer.alloc(64 * 1024, 1);
    await client.call("pushBatch", { topic, messages: Array.from({ length: 32 }, () => ({ routeKey: "q", body })) });
    await client.call("push", { topic: kept, routeKey: "q", body: Buffer.from("stays") });
    const topicDir = join(dataDir, "queues", encodeName(topic));
    const segments = filesUnder(topicDir).filter((f) => f.endsWith(".seg"));
    expect(segments.length).to.be.greaterThan(0);
    // Held open here as a mapping would hold them in the node: unlinking alone would keep the blocks.
    const fds = segments.map((f) => openSync(f, "r"));
    try {
      expect(fds.reduce((n, fd) => n + fstatSync(fd).blocks, 0)).to.be.greaterThan(0);
      await client.call("deleteTopic", { topic });
      expect(fds.map((fd) => fstatSync(fd).size)).to.deep.equal(fds.map(() => 0));
      expect(fds.reduce((n, fd) => n + fstatSync(fd).blocks, 0)).to.equal(0);
    } finally {
      for (const fd of fds) closeSync(fd);
    }
    expect(existsSync(topicDir)).to.equal(false);
    expect(readdirSync(join(dataDir, "trash"))).to.deep.equal([]);

    client.close();
    expect(await node.stop()).to.equal(0);
    node = await startNodeProcess({ dataDir });
    client = connect(node.grpcAddr);
    base = `http://${node.httpAddr}`;
    expect(await topicExists(topic)).to.equal(false);
    expect(await topicExists(kept)).to.equal(true);
    expect((await client.call<object, GetTopicStatResponse>("getTopicStat", { topic: kept })).stat?.backlog).to.equal(1n);
  });

  it("empties at start what a crash left in trash/", async () => {
    client.close();
    await node.kill();
    const left = join(dataDir, "trash", "1-2-3", "main", "msg");
    mkdirSync(left, { recursive: true });
    writeFileSync(join(left, "0000000001.seg"), Buffer.alloc(4096));
    node = await startNodeProcess({ dataDir });
    client = connect(node.grpcAddr);
    base = `http://${node.httpAddr}`;
    expect(readdirSync(join(dataDir, "trash"))).to.deep.equal([]);
  });
});
