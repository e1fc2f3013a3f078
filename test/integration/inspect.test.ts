// GetMessage, Peek, Delete, Reschedule and PurgeQueue against a real node:
// every state a lookup reports, paging, changes that survive kill -9 and
// never deliver a cancelled message, purge then reclaim, and the HTTP routes.
import { expect } from "chai";
import { reasonFromTrailers } from "../../src/client/errors.js";
import {
  MessageState,
  PeekState,
  PurgeTarget,
  RouteMode,
  type GetMessageResponse,
  type Message,
  type MessageInfo,
  type PeekResponse,
  type PopResponse,
  type PushResponse,
} from "../../src/gen/gmq/v1/broker.js";
import { type Client, grpc, uniqueTopic } from "../helpers/grpc-client.js";
import { restartableNode } from "../helpers/node-process.js";
import { waitFor } from "../helpers/wait-for.js";

const S = grpc.status;

async function failure(p: Promise<unknown>): Promise<{ code: grpc.status; reason: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as grpc.ServiceError;
    return { code: e.code, reason: reasonFromTrailers(e.metadata) };
  }
  throw new Error("the call succeeded");
}

describe("seeing and steering single messages", function () {
  this.timeout(120_000);
  // Small segments, so a purge has whole segments to reclaim.
  const fx = restartableNode({ args: ["--segment-bytes", String(64 * 1024), "--max-body-bytes", String(32 * 1024)] });
  const c = (): Client => fx.n.client;

  const push = (topic: string, routeKey: string, text: string, extra: object = {}) =>
    c().call<object, PushResponse>("push", { topic, routeKey, body: Buffer.from(text), ...extra });
  const pop = (topic: string, bindKey: string) => c().call<object, PopResponse>("pop", { topic, bindKey, waitMs: 0 }).then((r) => r.message as Message);
  const get = (topic: string, bindKey: string, id: bigint, includeBody = false) =>
    c().call<object, GetMessageResponse>("getMessage", { topic, bindKey, id, includeBody }).then((r) => r.copies);
  const one = async (topic: string, bindKey: string, id: bigint): Promise<MessageInfo> => (await get(topic, bindKey, id))[0]!;
  const peek = (topic: string, bindKey: string, state: PeekState, limit: number, afterId = 0n) =>
    c().call<object, PeekResponse>("peek", { topic, bindKey, state, limit, afterId }).then((r) => r.messages);

  it("reports ready, delayed, in flight, dead, acked and expired messages with their times", async () => {
    const topic = uniqueTopic();
    await c().call("config", { topic, msgTtr: 1, msgRetry: 0 });
    await c().call("declareQueue", { topic, bindKey: "q" });
    const ready = await push(topic, "q", "ready body", { });
    const delayed = await push(topic, "q", "later", { delayMs: 3_600_000n });
    const expiring = await push(topic, "q", "short", { ttlMs: 1n });
    const info = await get(topic, "q", ready.id, true);
    expect(info).to.have.length(1);
    expect(info[0]).to.deep.include({ bindKey: "q", state: MessageState.MESSAGE_STATE_READY, id: ready.id, routeKey: "q", retry: 0, bodyBytes: 10 });
    expect(info[0]!.body.toString()).to.equal("ready body");
    const d = await one(topic, "q", delayed.id);
    expect(d.state).to.equal(MessageState.MESSAGE_STATE_DELAYED);
    expect(d.dueAtMs).to.equal(d.createdAtMs + 3_600_000n); // due its delay after the push
    await waitFor(async () => (await one(topic, "q", expiring.id)).state === MessageState.MESSAGE_STATE_EXPIRED, { what: "expiry reported" });

    const m = await pop(topic, "q");
    expect(m.id).to.equal(ready.id);
    expect(await one(topic, "q", ready.id)).to.deep.include({ state: MessageState.MESSAGE_STATE_IN_FLIGHT, deadlineMs: m.deadlineMs, retry: 0 });
    // TTR 1 s, no retries: it becomes a dead letter.
    await waitFor(async () => (await one(topic, "q", ready.id)).state === MessageState.MESSAGE_STATE_DEAD, { what: "dead letter reported" });

    const acked = await push(topic, "q", "to ack");
    let got: Message;
    do got = await pop(topic, "q");
    while (got.id !== acked.id);
    await c().call("ack", { topic, bindKey: "q", id: acked.id });
    expect((await one(topic, "q", acked.id)).state).to.equal(MessageState.MESSAGE_STATE_ACKED);

    expect(await failure(get(topic, "q", 12345n))).to.deep.equal({ code: S.NOT_FOUND, reason: "MESSAGE_NOT_FOUND" });
  });

  it("finds every queue of the topic holding a copy when no bind key is given", async () => {
    const topic = uniqueTopic();
    await c().call("config", { topic, routeMode: RouteMode.ROUTE_MODE_REGEX });
    for (const b of ["user.created", "user.deleted", "admin"]) await c().call("declareQueue", { topic, bindKey: b });
    const r = await push(topic, "^user\\.", "u");
    expect(r.queues).to.equal(2);
    await pop(topic, "user.deleted");
    const copies = await get(topic, "", r.id);
    expect(copies.map((x) => [x.bindKey, x.state])).to.have.deep.members([
      ["user.created", MessageState.MESSAGE_STATE_READY],
      ["user.deleted", MessageState.MESSAGE_STATE_IN_FLIGHT],
    ]);
  });

  it("pages through ready, delayed and dead messages without delivering them", async () => {
    const topic = uniqueTopic();
    await c().call("declareQueue", { topic, bindKey: "q" });
    const ids: bigint[] = [];
    for (let i = 0; i < 5; i++) ids.push((await push(topic, "q", `m${i}`)).id);
    const late = await push(topic, "q", "late", { delayMs: 7_200_000n });
    const soon = await push(topic, "q", "soon", { delayMs: 3_600_000n });
    const p1 = await peek(topic, "q", PeekState.PEEK_STATE_READY, 2);
    expect(p1.map((m) => m.id)).to.deep.equal(ids.slice(0, 2));
    const p2 = await peek(topic, "q", PeekState.PEEK_STATE_READY, 2, p1[1]!.id);
    expect(p2.map((m) => m.id)).to.deep.equal(ids.slice(2, 4));
    const p3 = await peek(topic, "q", PeekState.PEEK_STATE_READY, 2, p2[1]!.id);
    expect(p3.map((m) => m.id)).to.deep.equal(ids.slice(4));
    expect((await peek(topic, "q", PeekState.PEEK_STATE_DELAYED, 10)).map((m) => m.id)).to.deep.equal([soon.id, late.id]);
    expect(await peek(topic, "q", PeekState.PEEK_STATE_DEAD, 10)).to.deep.equal([]);
    // Nothing was delivered: the first pop gets the first message.
    expect((await pop(topic, "q")).id).to.equal(ids[0]);
  });

  it("deletes and reschedules durably: after kill -9 the cancelled message is never delivered, the moved ones come when due", async () => {
    const topic = uniqueTopic();
    await c().call("declareQueue", { topic, bindKey: "q" });
    const [a, b, cc] = [await push(topic, "q", "a"), await push(topic, "q", "b"), await push(topic, "q", "c")];
    const d = await push(topic, "q", "d", { delayMs: 3_600_000n });
    const e = await push(topic, "q", "e", { delayMs: 3_600_000n });
    const f = await push(topic, "q", "f");
    await c().call("delete", { topic, bindKey: "q", id: b.id });
    await c().call("delete", { topic, bindKey: "q", id: d.id });
    const { dueAtMs } = await c().call<object, { dueAtMs: bigint }>("reschedule", { topic, bindKey: "q", id: e.id, delayMs: 1500n });
    expect(await one(topic, "q", e.id)).to.deep.include({ state: MessageState.MESSAGE_STATE_DELAYED, dueAtMs });
    await c().call("reschedule", { topic, bindKey: "q", id: a.id, delayMs: 3_600_000n });
    const inFlight = await pop(topic, "q");
    expect(inFlight.id).to.equal(cc.id);
    expect(await failure(c().call("delete", { topic, bindKey: "q", id: cc.id }))).to.deep.equal({ code: S.FAILED_PRECONDITION, reason: "MESSAGE_IN_FLIGHT" });
    expect(await failure(c().call("reschedule", { topic, bindKey: "q", id: cc.id, delayMs: 10n }))).to.deep.equal({ code: S.FAILED_PRECONDITION, reason: "MESSAGE_IN_FLIGHT" });
    expect(await failure(c().call("delete", { topic, bindKey: "q", id: b.id }))).to.deep.equal({ code: S.NOT_FOUND, reason: "MESSAGE_NOT_FOUND" });

    await fx.n.restart("kill");
    expect((await one(topic, "q", a.id)).state).to.equal(MessageState.MESSAGE_STATE_DELAYED);
    // Removed from the backlog, and the queue's cursor has passed it since: settled, like an acked one.
    expect((await one(topic, "q", b.id)).state).to.equal(MessageState.MESSAGE_STATE_ACKED);
    expect(await failure(get(topic, "q", d.id))).to.deep.equal({ code: S.NOT_FOUND, reason: "MESSAGE_NOT_FOUND" });
    // Delivered in order: f (ready), then e when its new time comes; c again after its TTR (30 s) is not awaited.
    expect((await pop(topic, "q")).id).to.equal(f.id);
    let next: Message | undefined;
    await waitFor(async () => {
      next = await pop(topic, "q").catch(() => undefined);
      return next !== undefined;
    }, { what: "the rescheduled message" });
    expect(next!.id).to.equal(e.id);
    const { stat } = await c().call<object, { stat: { queues: { ready: bigint; delayed: bigint; inFlight: bigint }[] } }>("getTopicStat", { topic });
    expect(stat.queues[0]).to.deep.include({ ready: 0n, delayed: 1n });
  });

  it("purges ready, delayed and dead messages, counts them, and reclaims their space", async () => {
    const topic = uniqueTopic();
    await c().call("declareQueue", { topic, bindKey: "q" });
    const first = await push(topic, "q", "x".repeat(4000));
    for (let i = 0; i < 9; i++) await c().call("pushBatch", { topic, messages: Array.from({ length: 20 }, () => ({ routeKey: "q", body: Buffer.alloc(4000, 1) })) });
    await push(topic, "q", "d", { delayMs: 3_600_000n });
    const before = await c().call<object, { stat: { queues: { bytesOnDisk: bigint }[] } }>("getTopicStat", { topic });
    const r = await c().call<object, object>("purgeQueue", { topic, bindKey: "q", what: PurgeTarget.PURGE_TARGET_ALL });
    expect(r).to.deep.equal({ purged: 182n, ready: 181n, delayed: 1n, dead: 0n });
    await waitFor(async () => {
      const after = await c().call<object, { stat: { queues: { bytesOnDisk: bigint; ready: bigint; delayed: bigint }[] } }>("getTopicStat", { topic });
      return after.stat.queues[0]!.bytesOnDisk < before.stat.queues[0]!.bytesOnDisk / 2n;
    }, { what: "purged segments reclaimed" });
    expect(await failure(get(topic, "q", first.id))).to.deep.equal({ code: S.NOT_FOUND, reason: "MESSAGE_RECLAIMED" });
    expect(await failure(c().call("purgeQueue", { topic, bindKey: "q" }))).to.deep.include({ code: S.INVALID_ARGUMENT });
    await fx.n.restart("kill");
    expect(await failure(pop(topic, "q"))).to.deep.equal({ code: S.NOT_FOUND, reason: "QUEUE_EMPTY" });
  });

  it("serves the five RPCs on the HTTP gateway and lists them in /openapi.json", async () => {
    const topic = uniqueTopic();
    await c().call("declareQueue", { topic, bindKey: "q" });
    const m = await push(topic, "q", "over http");
    const base = fx.n.httpBase;
    const got = await (await fetch(`${base}/v1/topics/${topic}/messages/${m.id}?include_body=true`)).json();
    expect(got.copies[0]).to.include({ bindKey: "q", state: "MESSAGE_STATE_READY", id: String(m.id), body: Buffer.from("over http").toString("base64") });
    const page = await (await fetch(`${base}/v1/topics/${topic}/queues/q/messages?state=PEEK_STATE_READY&limit=5`)).json();
    expect(page.messages.map((x: { id: string }) => x.id)).to.deep.equal([String(m.id)]);
    const moved = await fetch(`${base}/v1/topics/${topic}/queues/q/messages/${m.id}:reschedule`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ delayMs: "60000" }),
    });
    expect(moved.status).to.equal(200);
    const del = await fetch(`${base}/v1/topics/${topic}/queues/q/messages/${m.id}`, { method: "DELETE" });
    expect(del.status).to.equal(200);
    const gone = await fetch(`${base}/v1/topics/${topic}/messages/${m.id}`);
    expect(gone.status).to.equal(404);
    expect((await gone.json()).reason).to.equal("MESSAGE_NOT_FOUND");
    const purge = await fetch(`${base}/v1/topics/${topic}/queues/q:purge`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ what: "PURGE_TARGET_ALL" }) });
    expect(await purge.json()).to.deep.equal({ purged: "0", ready: "0", delayed: "0", dead: "0" });
    const api = await (await fetch(`${base}/openapi.json`)).json();
    for (const p of ["/v1/topics/{topic}/messages/{id}", "/v1/topics/{topic}/queues/{bind_key}/messages", "/v1/topics/{topic}/queues/{bind_key}/messages/{id}", "/v1/topics/{topic}/queues/{bind_key}/messages/{id}:reschedule", "/v1/topics/{topic}/queues/{bind_key}:purge"]) {
      expect(api.paths, p).to.have.property(p);
    }
  });
});
