// The two streaming calls over HTTP, as newline-delimited JSON or, when the
// client sends `Accept: text/event-stream`, Server-Sent Events:
//   GET /v1/channels:subscribe?channels=a&channels=b        SubscribeResponse per message
//   GET /v1/topics/{topic}/queues/{bind_key}:consume?...     Message per delivery
// A stream ends when the client goes away (the subscription or consumer is
// closed at once) or when the node shuts down.
//
// Consuming: ack=manual (default) leaves each delivered message in flight
// until the client acks or nacks it through the gateway
// (POST .../messages/{id}:ack); that also returns one unit of credit to the
// stream, so at most max_in_flight messages are unacked at a time. Messages
// still unacked when the stream closes are released to the queue at once.
// ack=auto acks each message once it is written to the socket (at most once).
// On a topic with auto_ack, messages are settled at delivery whatever `ack` says.
import type { IncomingMessage, ServerResponse } from "node:http";
import { BrokerError, ErrorReason, invalid } from "../broker/errors.js";
import { messageFromJson, messageToJson, setFromText, type Json } from "./json-mapping.js";
import type { MessageSchema, ProtoSchema } from "./proto-schema.js";
import type { Authorizer } from "./auth.js";
import { compileTemplate } from "./http-routes.js";
import { toProtoMessage } from "./messages.js";
import { httpErrorBody } from "./status.js";

/** A delivered message as the broker hands it to a consumer. */
export interface StreamDelivery {
  id: bigint;
  routeKey: string;
  body: Buffer;
  retry: number;
  createdAtMs: number;
  deadlineMs: number;
  expiresAtMs: number;
}

export interface StreamConsumer {
  grant(n: number): void;
  ack(ids: readonly bigint[]): number;
  nack(ids: readonly bigint[]): number;
  close(err?: BrokerError): void;
}

/** What the streams need from the broker. */
export interface StreamBroker {
  subscribe(channels: readonly string[], listener: (channel: string, body: Buffer, publishedAtMs: number) => void): () => void;
  consume(
    topic: string,
    bindKey: string,
    options: { maxInFlight: number; maxBatchBytes: number },
    deliver: (batch: StreamDelivery[]) => void,
    onEnd: (err?: BrokerError) => void,
  ): StreamConsumer;
}

export interface StreamRoute {
  name: "Subscribe" | "Consume";
  template: string;
  regex: RegExp;
  variables: string[];
  request: MessageSchema;
  response: MessageSchema;
}

const DEFAULT_MAX_IN_FLIGHT = 100;
const DEFAULT_MAX_BATCH_BYTES = 1024 * 1024;
const HEARTBEAT_MS = 15_000;
/** A subscriber this far behind is disconnected rather than buffered without bound. */
const MAX_SUBSCRIBER_BUFFER_BYTES = 8 * 1024 * 1024;

export function streamRoutes(schema: ProtoSchema): StreamRoute[] {
  const make = (name: StreamRoute["name"], template: string, request: string, response: string): StreamRoute => ({
    name,
    template,
    ...compileTemplate(template),
    request: schema.message(request),
    response: schema.message(response),
  });
  return [
    make("Subscribe", "/v1/channels:subscribe", "gmq.v1.SubscribeRequest", "gmq.v1.SubscribeResponse"),
    make("Consume", "/v1/topics/{topic}/queues/{bind_key}:consume", "gmq.v1.ConsumeSubscribe", "gmq.v1.Message"),
  ];
}

/** Writes one JSON value per event in the framing the client asked for. */
class EventWriter {
  readonly sse: boolean;
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(
    req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {
    this.sse = /\btext\/event-stream\b/.test(String(req.headers.accept ?? ""));
    res.writeHead(200, {
      "content-type": this.sse ? "text/event-stream; charset=utf-8" : "application/x-ndjson; charset=utf-8",
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
    });
    res.flushHeaders();
    if (this.sse) {
      res.write(": stream open\n\n");
      // Comments keep proxies from timing the stream out and reveal dead peers.
      this.heartbeat = setInterval(() => res.write(": ping\n\n"), HEARTBEAT_MS);
      this.heartbeat.unref();
    }
  }

  write(value: Json, done?: () => void): boolean {
    const text = JSON.stringify(value);
    return this.res.write(this.sse ? `data: ${text}\n\n` : `${text}\n`, done as (() => void) | undefined);
  }

  get buffered(): number {
    return this.res.writableLength;
  }

  end(error?: BrokerError): void {
    clearInterval(this.heartbeat);
    if (this.res.writableEnded || this.res.destroyed) return;
    if (error) {
      const text = JSON.stringify({ error: httpErrorBody(error) });
      this.res.write(this.sse ? `event: error\ndata: ${text}\n\n` : `${text}\n`);
    }
    this.res.end();
  }
}

/** Parses a stream's request from its path variables and query string. */
function requestOf(route: StreamRoute, values: string[], query: URLSearchParams): Record<string, unknown> {
  const json: Record<string, Json> = {};
  const grouped = new Map<string, string[]>();
  for (const [k, v] of query) grouped.set(k, [...(grouped.get(k) ?? []), v]);
  for (const [k, vs] of grouped) setFromText(route.request, json, k, vs);
  route.variables.forEach((path, i) => setFromText(route.request, json, path, [values[i]!]));
  return messageFromJson(route.request, json);
}

export interface StreamRegistry {
  /** Ends every open stream (node shutdown). */
  closeAll(): void;
}

/** auth, when given, is asked before a stream starts. */
export function createStreams(broker: StreamBroker, messageSchema: MessageSchema, auth?: Authorizer) {
  const open = new Set<() => void>();

  function subscribe(route: StreamRoute, values: string[], query: URLSearchParams, req: IncomingMessage, res: ServerResponse): void {
    const request = requestOf(route, values, query) as { channels: string[] };
    auth?.authorizeRpc(req.headers.authorization, "Subscribe", request);
    let writer: EventWriter | undefined;
    let unsubscribe: (() => void) | undefined;
    const stop = (): void => {
      unsubscribe?.();
      unsubscribe = undefined;
      open.delete(stop);
      writer?.end();
    };
    unsubscribe = broker.subscribe(request.channels, (channel, body, publishedAtMs) => {
      if (!writer) return;
      if (writer.buffered > MAX_SUBSCRIBER_BUFFER_BYTES) {
        unsubscribe?.();
        unsubscribe = undefined;
        writer.end(new BrokerError(ErrorReason.SUBSCRIBER_TOO_SLOW, "subscriber too slow: more than 8 MiB of messages unread"));
        return;
      }
      writer.write(messageToJson(route.response, { channel, body, publishedAtMs: BigInt(publishedAtMs) }));
    });
    writer = new EventWriter(req, res);
    open.add(stop);
    res.once("close", stop);
  }

  function consume(route: StreamRoute, values: string[], query: URLSearchParams, req: IncomingMessage, res: ServerResponse): void {
    const mode = query.get("ack") ?? "manual";
    if (mode !== "manual" && mode !== "auto") throw invalid(`ack must be manual or auto, got ${JSON.stringify(mode)}`);
    query.delete("ack");
    const request = requestOf(route, values, query) as { topic: string; bindKey: string; maxInFlight: number; maxBatchBytes: number };
    auth?.authorizeRpc(req.headers.authorization, "Consume", request);
    const { topic, bindKey } = request;
    let writer: EventWriter | undefined;
    let consumer: StreamConsumer | undefined = undefined;
    const pending: StreamDelivery[][] = [];
    const deliver = (batch: StreamDelivery[]): void => {
      if (!writer || !consumer) {
        pending.push(batch); // delivered synchronously inside consume(), before we hold the consumer
        return;
      }
      const c = consumer;
      for (const d of batch) {
        const json = messageToJson(messageSchema, toProtoMessage(topic, bindKey, d));
        if (d.deadlineMs === 0) {
          // An auto-ack topic settled it at delivery: nothing to ack, so its credit comes back once written.
          writer.write(json, () => c.grant(1));
        } else if (mode === "auto") {
          writer.write(json, () => c.ack([d.id]));
        } else {
          // Acked or nacked later by the client, over any route: the broker then returns this stream's credit.
          writer.write(json);
        }
      }
    };
    let stopped = false;
    const stop = (err?: BrokerError): void => {
      if (stopped) return; // consumer.close() below calls back here through onEnd
      stopped = true;
      open.delete(stop);
      consumer?.close(); // releases unacked deliveries to the queue at once
      writer?.end(err);
    };
    consumer = broker.consume(
      topic,
      bindKey,
      { maxInFlight: request.maxInFlight || DEFAULT_MAX_IN_FLIGHT, maxBatchBytes: request.maxBatchBytes || DEFAULT_MAX_BATCH_BYTES },
      deliver,
      (err) => stop(err),
    );
    writer = new EventWriter(req, res);
    open.add(stop);
    res.once("close", () => stop());
    for (const batch of pending.splice(0)) deliver(batch);
  }

  const registry: StreamRegistry = {
    closeAll() {
      for (const stop of [...open]) stop();
    },
  };
  return { subscribe, consume, registry };
}

export type Streams = ReturnType<typeof createStreams>;
