// The lifecycle trace's events, in process on both stores with a manual
// clock: each kind the broker records, with the times and fields it sets.
import { expect } from "chai";
import { TraceKind } from "../../src/broker/trace.js";
import { declare, QUEUE, startBroker, STORES } from "./harness.js";

const kinds = (events: readonly { kind: number }[]): number[] => events.map((e) => e.kind);

for (const store of STORES) {
  describe(`message trace events (${store})`, () => {
    it("records touch, nack, a stream's release and ack with the times they set", async () => {
      const h = startBroker(store);
      declare(h, "t", { trace: true, msgTtrS: 30 });
      const { id } = await h.broker.push("t", QUEUE, Buffer.from("a"), 0);
      const t0 = h.clock.now();
      await h.broker.pop("t", QUEUE, 0, undefined, { consumer: "pop", peer: "10.0.0.1:4000", tokenName: "worker" });
      await h.clock.advance(1000);
      const deadline = await h.broker.touch("t", QUEUE, id, 5000);
      await h.broker.nack("t", QUEUE, id, 2000);
      await h.clock.advance(2000);
      const delivered: bigint[] = [];
      const consumer = h.broker.consume("t", QUEUE, { maxInFlight: 10, maxBatchBytes: 1 << 20, target: { consumer: "stream", peer: "10.0.0.2:5000", tokenName: "" } }, (b) => delivered.push(...b.map((m) => m.id)), () => {});
      await h.clock.advance(0);
      expect(delivered).to.deep.equal([id]);
      consumer.close();
      await h.broker.pop("t", QUEUE, 0);
      await h.broker.ack("t", QUEUE, id);
      const events = h.broker.traceMessage("t", id);
      expect(kinds(events)).to.deep.equal([
        TraceKind.Pushed,
        TraceKind.Delivered,
        TraceKind.Touched,
        TraceKind.Nacked,
        TraceKind.Delivered,
        TraceKind.Released,
        TraceKind.Delivered,
        TraceKind.Acked,
      ]);
      expect(events[1]).to.deep.include({ atMs: t0, consumer: "pop", peer: "10.0.0.1:4000", tokenName: "worker", untilMs: t0 + 30_000 });
      expect(events[2]).to.deep.include({ atMs: t0 + 1000, untilMs: deadline });
      expect(events[3]).to.deep.include({ atMs: t0 + 1000, untilMs: t0 + 3000 });
      expect(events[4]).to.deep.include({ consumer: "stream", peer: "10.0.0.2:5000" });
      await h.broker.close();
    });

    it("records an idempotency duplicate, an expiry and an auto-ack", async () => {
      const h = startBroker(store);
      declare(h, "t", { trace: true });
      const first = await h.broker.push("t", QUEUE, Buffer.from("a"), 0, 0, "order-42");
      const again = await h.broker.push("t", QUEUE, Buffer.from("b"), 0, 0, "order-42");
      expect(again.id).to.equal(first.id);
      expect(h.broker.traceMessage("t", first.id).map((e) => [e.kind, e.duplicate])).to.deep.equal([
        [TraceKind.Pushed, false],
        [TraceKind.Pushed, true],
      ]);
      const { id: doomed } = await h.broker.push("t", QUEUE, Buffer.from("c"), 500, 100);
      await h.broker.pop("t", QUEUE, 0); // the first message, so the doomed one is alone
      await h.clock.advance(1000);
      expect(kinds(h.broker.traceMessage("t", doomed))).to.deep.equal([TraceKind.Pushed, TraceKind.Delayed, TraceKind.Expired]);

      h.broker.configure("t", { autoAck: true });
      const { id } = await h.broker.push("t", QUEUE, Buffer.from("d"), 0);
      await h.broker.pop("t", QUEUE, 0);
      const auto = h.broker.traceMessage("t", id);
      expect(kinds(auto)).to.deep.equal([TraceKind.Pushed, TraceKind.Delivered, TraceKind.Acked]);
      expect(auto[1]!.untilMs).to.equal(0);
      await h.broker.close();
    });

    it("answers TRACE_OFF while tracing is off and records from when it is turned on", async () => {
      const h = startBroker(store);
      declare(h, "t");
      const { id: before } = await h.broker.push("t", QUEUE, Buffer.from("a"), 0);
      expect(() => h.broker.traceMessage("t", before)).to.throw().with.property("reason", "TRACE_OFF");
      h.broker.configure("t", { trace: true });
      expect(() => h.broker.traceMessage("t", before)).to.throw().with.property("reason", "TRACE_NOT_FOUND");
      const { id } = await h.broker.push("t", QUEUE, Buffer.from("b"), 0);
      h.broker.configure("t", { trace: false });
      await h.broker.pop("t", QUEUE, 0);
      expect(kinds(h.broker.traceMessage("t", id))).to.deep.equal([TraceKind.Pushed]);
      await h.broker.close();
    });
  });
}
