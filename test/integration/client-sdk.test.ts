// The SDK against one real node (standalone): the broker's semantics as a
// client sees them — acks, nacks on a failing handler, TTR redelivery and dead
// letters, batches, pop, pub/sub, stats.
import { expect } from "chai";
import { Code, GmqClient, GmqError, type Delivery } from "../../src/client/index.js";
import { startNodeProcess, type NodeProcess } from "../helpers/node-process.js";
import { waitFor } from "../helpers/wait-for.js";

describe("client SDK against a real node", function () {
  this.timeout(90_000);
  let node: NodeProcess;
  let client: GmqClient;
  let n = 0;
  let topic = "";

  before(async () => {
    node = await startNodeProcess();
    client = await GmqClient.connect({ addresses: [node.grpcAddr] });
  });
  beforeEach(() => {
    topic = `sdk${Date.now()}_${++n}`;
  });
  after(async () => {
    await client?.close();
    await node?.stop();
    node?.cleanup();
  });

  it("acks what a handler finished, so nothing stays in flight", async () => {
    await client.declareQueue(topic, "q");
    for (let i = 0; i < 200; i++) await client.push(topic, `m${i}`, { routeKey: "q" });
    let seen = 0;
    const consumer = client.consume(topic, "q", () => void seen++, { maxInFlight: 16 });
    await waitFor(() => seen === 200, { what: "consume" });
    await consumer.close();
    const [stat] = await client.stats(topic);
    const q = stat!.value!.queues[0]!;
    expect([q.acked, q.inFlight, q.ready]).to.deep.equal([200n, 0n, 0n]);
  });

  it("ends a consumer of an unknown queue with NOT_FOUND once: done rejects and nothing is retried", async () => {
    const streamErrors: GmqError[] = [];
    let handled = 0;
    const consumer = client.consume(topic, "nosuch", () => void handled++, { onStreamError: (e) => streamErrors.push(e) });
    const err = await consumer.done.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(GmqError);
    expect((err as GmqError).code).to.equal(Code.NOT_FOUND);
    expect({ handled, streamErrors: streamErrors.length, nodes: consumer.nodes() }).to.deep.equal({ handled: 0, streamErrors: 0, nodes: [] });
  });

  it("deletes a topic with deleteTopic: its consumer ends with QUEUE_NOT_FOUND, a second delete rejects with TOPIC_NOT_FOUND", async () => {
    await client.declareQueue(topic, "q");
    await client.push(topic, "held", { routeKey: "q" });
    let handled = 0;
    const consumer = client.consume(topic, "q", () => new Promise<void>(() => void handled++)); // never settles
    await waitFor(() => handled === 1, { what: "the consumer holding the message" });
    expect(await client.deleteTopic(topic)).to.deep.equal(["q"]);
    const ended = await consumer.done.then(
      () => undefined,
      (e: unknown) => e as GmqError,
    );
    expect([ended?.code, ended?.reason]).to.deep.equal([Code.NOT_FOUND, "QUEUE_NOT_FOUND"]);
    const again = await client.deleteTopic(topic).then(
      () => undefined,
      (e: unknown) => e as GmqError,
    );
    expect([again?.code, again?.reason]).to.deep.equal([Code.NOT_FOUND, "TOPIC_NOT_FOUND"]);
  });

  it("resolves a consumer's done when it is closed", async () => {
    await client.declareQueue(topic, "q");
    const consumer = client.consume(topic, "q", () => undefined);
    await consumer.close();
    await consumer.done;
  });

  it("gives a message back when its handler throws, and delivers it again", async () => {
    await client.declareQueue(topic, "q");
    await client.push(topic, "flaky", { routeKey: "q" });
    let attempts = 0;
    const consumer = client.consume(topic, "q", () => {
      if (++attempts < 3) throw new Error("not yet");
    });
    await waitFor(() => attempts === 3, { what: "redelivery after nacks" });
    await consumer.close();
    expect(consumer.failed).to.equal(2);
    expect(consumer.acked).to.equal(1);
  });

  it("with onError 'leave', the TTR redelivers with a retry count and then dead-letters; redrive brings it back", async () => {
    await client.config(topic, { msgTtr: 1, msgRetry: 1 });
    await client.declareQueue(topic, "q");
    await client.push(topic, "poison", { routeKey: "q" });
    const retries: number[] = [];
    const consumer = client.consume(
      topic,
      "q",
      (m) => {
        retries.push(m.retry);
        throw new Error("always fails");
      },
      { onError: "leave" },
    );
    await waitFor(async () => (await client.listDead(topic, "q")).length === 1, { what: "dead letter" });
    await consumer.close();
    expect(retries).to.deep.equal([0, 1]);
    expect(await client.redrive(topic, "q")).to.equal(1);
    const back = await client.pop(topic, "q", { waitMs: 2000 });
    expect(back?.body.toString()).to.equal("poison");
    await client.ack(back!);
  });

  it("pushes batches, pops with a wait, and acks by reference", async () => {
    await client.declareQueue(topic, "q");
    const { ids } = await client.pushBatch(topic, [{ body: "a", routeKey: "q" }, { body: "b", routeKey: "q" }]);
    expect(ids).to.have.length(2);
    const first = (await client.pop(topic, "q")) as Delivery;
    expect(first.id).to.equal(ids[0]);
    await client.ack({ topic, bindKey: "q", id: first.id });
    expect(await client.pop(topic, "q", { waitMs: 0 })).to.include({ id: ids[1] });
    const empty = await client.pop(topic, "q", { waitMs: 300 });
    expect(empty).to.equal(undefined);
  });

  it("reports a push nobody can route with FAILED_PRECONDITION", async () => {
    const err = await client.push(topic, "x", { routeKey: "nowhere" }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(GmqError);
    expect((err as GmqError).code).to.equal(Code.FAILED_PRECONDITION);
  });

  it("delivers publications to a subscriber", async () => {
    const got: string[] = [];
    const sub = client.subscribe([topic], (p) => got.push(p.body.toString()));
    await waitFor(async () => (await client.publish(topic, "probe")).receivers === 1, { what: "subscriber connected" });
    await client.publish(topic, "hello");
    await waitFor(() => got.includes("hello"), { what: "publication" });
    sub.close();
  });
});
