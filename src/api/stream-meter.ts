// What the stream layer reports about itself, whatever the protocol: each
// session opens one handle with its RPC and protocol and counts, through it,
// the messages and payload bytes going in and out. metrics.ts turns the
// handles into Prometheus series; without metrics nothing is counted.
export type StreamMethod = "Consume" | "Subscribe" | "PushStream";
export type StreamProtocol = "grpc" | "http";

/** One open stream's counters; close() once when the stream ends. */
export interface StreamMeterHandle {
  /** Messages received from the client (pushes, Consume updates) and their body bytes. */
  in(messages: number, bytes: number): void;
  /** Messages sent to the client (deliveries, published messages, push replies) and their body bytes. */
  out(messages: number, bytes: number): void;
  close(): void;
}

export interface StreamMeter {
  open(method: StreamMethod, protocol: StreamProtocol): StreamMeterHandle;
}

const noop = () => {};
const UNMETERED: StreamMeterHandle = { in: noop, out: noop, close: noop };

/** A meter that counts nothing (metrics off, tests). */
export const NO_STREAM_METER: StreamMeter = { open: () => UNMETERED };
