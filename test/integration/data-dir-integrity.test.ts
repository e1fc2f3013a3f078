// A node started on a data dir damaged in the ways found in the field: it
// starts, never mixes queues, and logs and counts what it skipped or lost.
import { expect } from "chai";
import * as fs from "node:fs";
import { join } from "node:path";
import { codeOf, connect, drainQueue, grpc, uniqueTopic, type Client } from "../helpers/grpc-client.js";
import { queueDir } from "../helpers/data-dir.js";
import { startNodeProcess, tempDataDir, type NodeProcess } from "../helpers/node-process.js";

type Log = { msg: string; [k: string]: unknown };
const logsOf = (node: NodeProcess): Log[] => node.logs.flatMap((l) => (l.startsWith("{") ? [JSON.parse(l) as Log] : []));

async function pushAll(c: Client, topic: string, n: number, bodyBytes = 16): Promise<bigint[]> {
  const ids: bigint[] = [];
  for (let i = 0; i < n; i += 100) {
    const messages = Array.from({ length: Math.min(100, n - i) }, (_, j) => ({ routeKey: "q", body: Buffer.alloc(bodyBytes, (i + j) % 251) }));
    const res = await c.call<object, { ids: bigint[] }>("pushBatch", { topic, messages });
    ids.push(...res.ids);
  }
  return ids;
}

async function metric(node: NodeProcess, name: string): Promise<number> {
  const text = await (await fetch(`http://${node.httpAddr}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`no metric ${name}`);
  return Number(line.slice(name.length + 1));
}


describe("data dir integrity (a real node on damaged data dirs)", function () {
  this.timeout(120_000);

  it("opens each queue once from its own directory when a queue.json names another queue, and reports the mismatch", async () => {
    const dataDir = tempDataDir();
    const a = uniqueTopic("t1");
    const b = uniqueTopic("m1");
    let node = await startNodeProcess({ dataDir });
    let c = connect(node.grpcAddr);
    for (const t of [a, b]) {
      await c.call("declareQueue", { topic: t, bindKey: "q" });
    }
    const idsA = await pushAll(c, a, 250);
    const idsB = await pushAll(c, b, 10);
    c.close();
    expect(await node.stop()).to.equal(0);
    // One flipped byte: a's queue.json now names b's queue.
    const jsonPath = join(queueDir(dataDir, a), "queue.json");
    fs.writeFileSync(jsonPath, JSON.stringify({ topic: b, bindKey: "q" }));

    for (let start = 0; start < 2; start++) {
      node = await startNodeProcess({ dataDir });
      c = connect(node.grpcAddr);
      if (start === 0) {
        const warning = logsOf(node).find((l) => l.msg === "queue.json names another queue than its directory; the directory wins");
        expect(warning, node.logs.join("\n")).to.not.equal(undefined);
        expect(await metric(node, "gmq_storage_data_dir_entries_skipped_total")).to.equal(1);
        expect(JSON.parse(fs.readFileSync(jsonPath, "utf8"))).to.deep.equal({ topic: a, bindKey: "q" });
      }
      const topics = (await c.call<object, { topics: { topic: string }[] }>("listTopics", {})).topics.map((t) => t.topic);
      expect(topics.sort()).to.deep.equal([a, b].sort()); // no ghost topic
      if (start === 1) {
        expect(await drainQueue(c, a)).to.deep.equal(idsA);
        expect(await drainQueue(c, b)).to.deep.equal(idsB);
      }
      c.close();
      expect(await node.stop()).to.equal(0);
    }
    node.cleanup();
  });

  it("starts with a stray directory inside meta/, skipping and reporting it", async () => {
    const dataDir = tempDataDir();
    const topic = uniqueTopic();
    let node = await startNodeProcess({ dataDir });
    let c = connect(node.grpcAddr);
    await c.call("declareQueue", { topic, bindKey: "q" });
    const ids = await pushAll(c, topic, 5);
    c.close();
    await node.stop();
    // Named as a metadata file of the older encoding would be ("k" + base64url of "topic.<name>").
    const asTopic = `k${Buffer.from(`topic.${uniqueTopic()}`).toString("base64url")}`;
    fs.mkdirSync(join(dataDir, "meta", "stray"));
    fs.mkdirSync(join(dataDir, "meta", asTopic));

    node = await startNodeProcess({ dataDir });
    c = connect(node.grpcAddr);
    const reported = logsOf(node).filter((l) => l.msg === "stray directory among the metadata files; skipped");
    expect(reported.map((l) => String(l.dir)).sort()).to.deep.equal([join(dataDir, "meta", "stray"), join(dataDir, "meta", asTopic)].sort());
    expect(reported).to.have.length(2);
    expect(await metric(node, "gmq_storage_data_dir_entries_skipped_total")).to.equal(2);
    expect(await drainQueue(c, topic)).to.deep.equal(ids);
    c.close();
    await node.stop();
    node.cleanup();
  });

  it("quarantines a zeroed and an emptied sealed message segment, logs file and offset, counts the lost messages and stops counting them as ready", async () => {
    const dataDir = tempDataDir();
    const topic = uniqueTopic();
    let node = await startNodeProcess({ dataDir });
    let c = connect(node.grpcAddr);
    await c.call("declareQueue", { topic, bindKey: "q" });
    const pushed = await pushAll(c, topic, 900, 4000);
    c.close();
    expect(await node.stop()).to.equal(0);
    const msgDir = join(queueDir(dataDir, topic), "main", "msg");
    const segs = fs.readdirSync(msgDir).filter((f) => f.endsWith(".seg")).sort();
    expect(segs.length).to.be.at.least(4);
    const emptied = join(msgDir, segs[0]!);
    const zeroed = join(msgDir, segs[1]!);
    fs.truncateSync(emptied, 0);
    fs.writeFileSync(zeroed, Buffer.alloc(fs.statSync(zeroed).size));

    node = await startNodeProcess({ dataDir });
    c = connect(node.grpcAddr);
    const logs = logsOf(node);
    const q = logs.filter((l) => String(l.msg).endsWith(": quarantined"));
    expect(q.map((l) => [l.msg, l.file, l.offset])).to.deep.equal([
      ["segment emptied, but the log wrote to it: quarantined", emptied, 0],
      ["segment zeroed, but the log wrote to it: quarantined", zeroed, 0],
    ]);
    expect(fs.existsSync(`${emptied}.bad`) && fs.existsSync(`${zeroed}.bad`)).to.equal(true);
    const stat = await c.call<object, { stat: { queues: { ready: bigint }[] } }>("getTopicStat", { topic });
    const ready = Number(stat.stat.queues[0]!.ready);
    const lost = await metric(node, "gmq_storage_messages_lost_total");
    expect(await metric(node, "gmq_storage_quarantined_segments")).to.equal(2);
    expect(lost).to.be.greaterThan(0);
    expect(ready + lost).to.equal(pushed.length);
    const lostLine = logs.find((l) => l.msg === "ready messages lost with quarantined segments");
    expect(lostLine?.lost).to.equal(lost);
    const got = await drainQueue(c, topic);
    expect(got).to.deep.equal(pushed.slice(lost));
    expect(await codeOf(c.call("pop", { topic, bindKey: "q" }))).to.equal(grpc.status.NOT_FOUND);
    c.close();
    await node.stop();
    node.cleanup();
  });
});
