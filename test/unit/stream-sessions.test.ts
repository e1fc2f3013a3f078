// The stream layer's sessions (src/api/streams.ts) without a transport: a
// sink that records what the session writes and how it ends, and a broker
// consumer whose journal writes can fail as a full disk makes them fail.
import { expect } from "chai";
import { BrokerError, ErrorReason, type Delivery } from "../../src/broker/index.js";
import type * as pb from "../../src/gen/gmq/v1/broker.js";
import { streamLimitsOf } from "../../src/api/stream-limits.js";
import { defaults } from "../../src/config.js";
import { ConsumeSession, OpenStreams, type StreamBroker, type StreamConsumer, type StreamSink } from "../../src/api/streams.js";

function delivery(id: bigint): Delivery {
  return { id, routeKey: "q", body: Buffer.from("m"), createdAtMs: 1, retry: 0, deadlineMs: 2, expiresAtMs: 0, settledAtDelivery: false };
}

/** A sink that holds each write's `sent` callback until the test says the transport sent it. */
class RecordingSink<T> implements StreamSink<T> {
  readonly written: T[] = [];
  readonly unsent: (() => void)[] = [];
  ended: { err: unknown } | undefined;

  write(reply: T, sent?: () => void): void {
    this.written.push(reply);
    if (sent) this.unsent.push(sent);
  }

  end(err?: unknown): void {
    expect(this.ended, "the stream ends once").to.equal(undefined);
    this.ended = { err };
  }

  /** The transport sends everything written so far. */
  flush(): void {
    for (const sent of this.unsent.splice(0)) sent();
  }
}

/** One consumer of one queue; ack throws ackError when set, as the guarded storage does on a full disk. */
class FakeConsumer implements StreamConsumer {
  ackError: BrokerError | undefined;
  readonly acked: bigint[] = [];
  closed = false;
  deliver: (batch: Delivery[]) => void = () => {};

  grant(): void {}
  ack(ids: readonly bigint[]): number {
    if (this.ackError) throw this.ackError;
    this.acked.push(...ids);
    return ids.length;
  }
  nack(ids: readonly bigint[]): number {
    return ids.length;
  }
  touch(ids: readonly bigint[]): number {
    return ids.length;
  }
  close(): void {
    this.closed = true;
  }
}

function brokerOf(consumer: FakeConsumer): StreamBroker {
  return {
    subscribe: () => () => {},
    consume(_topic, _bindKey, _options, deliver) {
      consumer.deliver = deliver;
      return consumer;
    },
  };
}

const subscribe: pb.ConsumeSubscribe = { topic: "t", bindKey: "q", maxInFlight: 10, maxBatchBytes: 0 };

describe("consume sessions that ack on send (HTTP ack=auto)", () => {
  it("acks each message once the transport has sent it", () => {
    const consumer = new FakeConsumer();
    const sink = new RecordingSink<pb.ConsumeResponse>();
    new ConsumeSession(brokerOf(consumer), subscribe, { ackOnSend: true, creditOnStream: false }, sink, new OpenStreams(), streamLimitsOf(defaults));
    consumer.deliver([delivery(1n), delivery(2n)]);
    expect(consumer.acked).to.deep.equal([]);
    sink.flush();
    expect(consumer.acked).to.deep.equal([1n, 2n]);
    expect(sink.ended).to.equal(undefined);
  });

  it("ends the stream with DISK_FULL and closes the consumer when an ack cannot be journaled after a send", () => {
    const consumer = new FakeConsumer();
    const sink = new RecordingSink<pb.ConsumeResponse>();
    const open = new OpenStreams();
    new ConsumeSession(brokerOf(consumer), subscribe, { ackOnSend: true, creditOnStream: false }, sink, open, streamLimitsOf(defaults));
    consumer.deliver([delivery(1n)]);
    const full = new BrokerError(ErrorReason.DISK_FULL, "the node's disk is full");
    consumer.ackError = full;
    expect(() => sink.flush()).not.to.throw();
    expect(sink.ended).to.deep.equal({ err: full });
    expect(consumer.closed).to.equal(true);
    // Shutdown finds nothing left to end.
    open.closeAll();
    expect(sink.ended).to.deep.equal({ err: full });
  });
});
