// A push reaching many queues is stored over several event-loop turns, so
// other clients are served meanwhile, and still in push order in every queue.
import { expect } from "chai";
import { APPEND_TURN_QUEUES } from "../../src/broker/append-lane.js";
import { startBroker, type Harness } from "./harness.js";

const N = APPEND_TURN_QUEUES + 44; // past one turn's queues
const LAST = `q${N - 1}`; // appended in the push's last turn

function fanoutTopic(h: Harness, topic: string): void {
  h.broker.configure(topic, { routeMode: "regex" });
  for (let i = 0; i < N; i++) h.broker.declareQueue(topic, `q${i}`);
}

// On the in-memory store: the lane is the broker's whatever the store, and the file store's 300 queues take ~20 s to create on a loaded machine.
describe(`a push to ${N} queues`, () => {
  it("lets the event loop run before it is answered, and reaches every queue", async () => {
    const h = startBroker("in-memory store");
    fanoutTopic(h, "fan");
    let answered = false;
    // Work queued behind the push's first turn: it runs before the push is answered only if the push yields.
    const other = new Promise<boolean>((resolve) => setImmediate(() => resolve(answered)));
    const push = h.broker.push("fan", ".*", Buffer.from("m"), 0).then((r) => ((answered = true), r));
    expect(await other).to.equal(false);
    expect((await push).queues).to.equal(N);
    for (let i = 0; i < N; i++) expect((await h.broker.pop("fan", `q${i}`, 0)).body.toString()).to.equal("m");
    await h.broker.close();
  });

  it("keeps push order in a queue it reaches in a later turn: a small push made meanwhile comes after it", async () => {
    const h = startBroker("in-memory store");
    fanoutTopic(h, "order");
    const big = h.broker.push("order", ".*", Buffer.from("first"), 0);
    const small = h.broker.push("order", LAST, Buffer.from("second"), 0);
    await Promise.all([big, small]);
    expect((await h.broker.pop("order", LAST, 0)).body.toString()).to.equal("first");
    expect((await h.broker.pop("order", LAST, 0)).body.toString()).to.equal("second");
    await h.broker.close();
  });

  it("is answered when a queue it would reach is deleted meanwhile, and stores the copies of the others", async () => {
    const h = startBroker("in-memory store");
    fanoutTopic(h, "gone");
    const push = h.broker.push("gone", ".*", Buffer.from("m"), 0);
    h.broker.deleteQueue("gone", LAST);
    await push;
    expect(h.broker.topicStat("gone").queues.reduce((n, q) => n + q.ready, 0)).to.equal(N - 1);
    await h.broker.close();
  });
});
