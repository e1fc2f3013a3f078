// The original gmq README's walkthrough (section 3), run verbatim as curl
// commands against a real node, then the original's admin routes.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { expect } from "chai";
import { startNodeProcess, type NodeProcess } from "../helpers/node-process.js";
import { waitFor } from "../helpers/wait-for.js";

const run = promisify(execFile);

describe("the original gmq HTTP API with curl (real node)", function () {
  this.timeout(90_000);
  let node: NodeProcess;
  let host: string;

  // A node of its own, so the README's topic name "ketang" can be used verbatim.
  before(async () => {
    node = await startNodeProcess();
    host = node.httpAddr;
  });
  after(async () => {
    await node?.stop();
    node?.cleanup();
  });

  async function curl(...args: string[]): Promise<any> {
    const { stdout } = await run("curl", args.map((a) => a.replaceAll("127.0.0.1:9504", host)));
    try {
      return JSON.parse(stdout);
    } catch {
      return stdout;
    }
  }

  it("runs the README walkthrough: config, declareQueue, push, pop, ack", async () => {
    // The README's own spelling, isAuthoAck, is accepted as isAutoAck.
    const config = await curl("-s", "http://127.0.0.1:9504/config?topic=ketang&isAuthoAck=1&mode=1&msgTTR=30&msgRetry=5");
    expect(config).to.deep.include({ code: 0, msg: "success" });
    expect(config.data).to.deep.include({ topic: "ketang", isAutoAck: 1, mode: 1, msgTTR: 30, msgRetry: 5 });

    const declare = await curl("-s", "http://127.0.0.1:9504/declareQueue?topic=ketang&bindKey=homework");
    expect(declare).to.deep.equal({ code: 0, data: null, msg: "ok" });

    const push = await curl("http://127.0.0.1:9504/push", "-X", "POST", "-d", 'data={"body":"this is a job","topic":"ketang","delay":0,"route_key":"homework"}');
    expect(push.code).to.equal(0);
    expect(push.data.msgId).to.match(/^\d+$/);

    const pop = await curl("http://127.0.0.1:9504/pop?topic=ketang&bindKey=homework");
    expect(pop.code).to.equal(0);
    expect(pop.data).to.deep.equal({ id: push.data.msgId, body: "this is a job", retry: 0 });

    const ack = await curl(`http://127.0.0.1:9504/ack?msgId=${push.data.msgId}&topic=ketang&bindKey=homework`);
    expect(ack).to.deep.equal({ code: 0, data: null, msg: "success" });
  });

  it("acks a popped message on a topic without auto-ack, and a second ack fails with code 1", async () => {
    await curl("-s", "http://127.0.0.1:9504/config?topic=manual&isAutoAck=0");
    await curl("-s", "http://127.0.0.1:9504/declareQueue?topic=manual&bindKey=q");
    const push = await curl("http://127.0.0.1:9504/push", "-X", "POST", "-d", 'data={"body":"job","topic":"manual","delay":0,"route_key":"q"}');
    const pop = await curl("http://127.0.0.1:9504/pop?topic=manual&bindKey=q");
    expect(pop.data.id).to.equal(push.data.msgId);
    expect((await curl(`http://127.0.0.1:9504/ack?msgId=${pop.data.id}&topic=manual&bindKey=q`)).code).to.equal(0);
    const again = await curl(`http://127.0.0.1:9504/ack?msgId=${pop.data.id}&topic=manual&bindKey=q`);
    expect(again.code).to.equal(1);
    expect(again.error).to.equal("NOT_FOUND");
  });

  it("delays a pushed message by the given seconds", async () => {
    await curl("-s", "http://127.0.0.1:9504/declareQueue?topic=later&bindKey=q");
    const pushedAfter = Date.now();
    await curl("http://127.0.0.1:9504/push", "-X", "POST", "-d", 'data={"body":"soon","topic":"later","delay":1,"route_key":"q"}');
    const pop = await waitFor(
      async () => {
        const r = await curl("http://127.0.0.1:9504/pop?topic=later&bindKey=q");
        return r.code === 0 ? r : undefined;
      },
      { what: "the delayed message" },
    );
    expect(Date.now() - pushedAfter, "not before its delay").to.be.at.least(1000);
    expect(pop.data.body).to.equal("soon");
  });

  it("serves the admin routes: getTopicStat, getAllTopicStat, getQueuesByTopic, setIsAutoAck, exitTopic, ping", async () => {
    const stat = await curl("-s", "http://127.0.0.1:9504/getTopicStat?topic=ketang");
    expect(stat.code).to.equal(0);
    expect(stat.data).to.include({ name: "ketang", push_num: 1, pop_num: 1, queue_num: 0, wait_ack_num: 0, dead_num: 0, delay_num: 0, is_auto_ack: true });
    expect(stat.data.start_time).to.match(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);

    const all = await curl("-s", "http://127.0.0.1:9504/getAllTopicStat");
    expect(all.code).to.equal(0);
    expect(all.data.map((t: { name: string }) => t.name)).to.include.members(["ketang", "manual"]);

    const queues = await curl("-s", "http://127.0.0.1:9504/getQueuesByTopic?topic=ketang");
    expect(queues).to.deep.equal({ code: 0, data: { homework: "ketang_homework" }, msg: "success" });

    expect((await curl("-s", "http://127.0.0.1:9504/setIsAutoAck?topic=ketang")).code).to.equal(0);
    expect((await curl("-s", "http://127.0.0.1:9504/getTopicStat?topic=ketang")).data.is_auto_ack).to.equal(false);

    const exit = await curl("-s", "http://127.0.0.1:9504/exitTopic?topic=ketang");
    expect(exit).to.deep.equal({ code: 0, data: null, msg: "topic.ketang has exit." });
    const gone = await curl("-s", "http://127.0.0.1:9504/getTopicStat?topic=ketang");
    expect(gone.code).to.equal(1);
    expect(gone.error).to.equal("NOT_FOUND");

    expect(await curl("-s", "http://127.0.0.1:9504/ping")).to.equal("OK");
  });

  it("answers the original's error envelope for missing or malformed parameters", async () => {
    expect(await curl("-s", "http://127.0.0.1:9504/pop?topic=ketang")).to.deep.include({ code: 1, msg: "bindKey is empty", data: null });
    expect((await curl("-s", "http://127.0.0.1:9504/push", "-X", "POST", "-d", "data={nope")).msg).to.match(/not valid JSON/);
    expect((await curl("-s", "http://127.0.0.1:9504/push", "-X", "POST")).msg).to.equal("data is empty");
    expect((await curl("-s", "http://127.0.0.1:9504/ack?msgId=abc&topic=t&bindKey=q")).msg).to.match(/msgId/);
  });
});
