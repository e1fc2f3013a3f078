// The two streaming calls over HTTP, as newline-delimited JSON or, when the
// client sends `Accept: text/event-stream`, Server-Sent Events:
//   GET /v1/channels:subscribe?channels=a&channels=b        SubscribeResponse per message
//   GET /v1/topics/{topic}/queues/{bind_key}:consume?...     Message per delivery
// A stream ends when the client goes away (the subscription or consumer is
// closed at once) or when the node shuts down. The streams themselves are
// streams.ts's sessions, shared with gRPC; this file frames their replies.
//
// Consuming: ack=manual (default) leaves each delivered message in flight
// until the client acks or nacks it through the gateway
// (POST .../messages/{id}:ack); that also returns one unit of credit to the
// stream, so at most max_in_flight messages are unacked at a time. Messages
// still unacked when the stream closes are released to the queue at once.
// ack=auto acks each message once it is written to the socket (at most once).
// On a topic with auto_ack, messages are settled at delivery whatever `ack` says.
import type { IncomingMessage, ServerResponse } from "node:http";
import { invalid } from "../broker/index.js";
import type * as pb from "../gen/gmq/v1/broker.js";
import type { Authorizer } from "./auth.js";
import { peerOf, quoted } from "./http-io.js";
import { compileTemplate, type CompiledTemplate } from "./http-routes.js";
import { messageFromJson, messageToJson, setFromText, type Json } from "./json-mapping.js";
import type { MessageSchema, ProtoSchema } from "./proto-schema.js";
import { httpErrorBody, toBrokerError, type CallSite, type ErrorLogger } from "./status.js";
import { SSE_HEARTBEAT_MS, type StreamLimits } from "./stream-limits.js";
import type { ConsumerBoard } from "./consumers.js";
import { NO_STREAM_METER, type StreamMeter } from "./stream-meter.js";
import { ConsumeSession, SubscribeSession, type ConsumeMode, type OpenStreams, type StreamBroker, type StreamSink, type StreamWatch } from "./streams.js";

export interface StreamRoute extends CompiledTemplate {
  name: "Subscribe" | "Consume";
  template: string;
  request: MessageSchema;
  response: MessageSchema;
}

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

/**
 * Writes one JSON value per event in the framing the client asked for. The
 * status line goes out with start(), once the stream is open, so a stream
 * that cannot open still answers with an HTTP error status.
 */
class EventWriter {
  private readonly sse: boolean;
  private started = false;

  constructor(
    req: IncomingMessage,
    private readonly res: ServerResponse,
    /** Where an internal fault that ends the stream is logged, with the stream's call. */
    private readonly log: ErrorLogger,
    private readonly call: CallSite,
  ) {
    this.sse = /\btext\/event-stream\b/.test(String(req.headers.accept ?? ""));
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    const res = this.res;
    res.writeHead(200, {
      "content-type": this.sse ? "text/event-stream; charset=utf-8" : "application/x-ndjson; charset=utf-8",
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
    });
    res.flushHeaders();
    if (this.sse) {
      res.write(": stream open\n\n");
      // Comments keep proxies from timing the stream out and reveal dead peers.
      const heartbeat = setInterval(() => res.write(": ping\n\n"), SSE_HEARTBEAT_MS);
      heartbeat.unref();
      res.once("close", () => clearInterval(heartbeat));
    }
  }

  private get gone(): boolean {
    return this.res.writableEnded || this.res.destroyed;
  }

  write(value: Json, sent?: () => void): void {
    if (this.gone) return;
    this.start();
    const text = JSON.stringify(value);
    this.res.write(this.sse ? `data: ${text}\n\n` : `${text}\n`, sent);
  }

  /**
   * A final `{"error": {code, reason, message, details}}` event when err is
   * given: the same body as a failed gateway call (status.ts's httpErrorBody).
   */
  end(err?: unknown): void {
    if (this.gone) return;
    this.start();
    if (err !== undefined) {
      const e = toBrokerError(err, this.log, this.call);
      const text = JSON.stringify({ error: httpErrorBody(e) });
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

export type HttpStreamHandler = (route: StreamRoute, values: string[], query: URLSearchParams, req: IncomingMessage, res: ServerResponse) => void;

/** auth, when given, is asked before a stream starts; open collects the streams for shutdown. */
export function createHttpStreams(
  broker: StreamBroker,
  messageSchema: MessageSchema,
  open: OpenStreams,
  log: ErrorLogger,
  limits: StreamLimits,
  auth?: Authorizer,
  observers: { meter?: StreamMeter; consumers?: ConsumerBoard } = {},
): Record<StreamRoute["name"], HttpStreamHandler> {
  const meter = observers.meter ?? NO_STREAM_METER;
  const watchOf = (req: IncomingMessage, recheck?: () => void): StreamWatch => ({
    protocol: "http",
    peer: req.socket.remoteAddress === undefined ? "" : `${req.socket.remoteAddress}:${req.socket.remotePort}`,
    meter,
    consumers: observers.consumers,
    recheck,
  });
  return {
    Subscribe(route, values, query, req, res) {
      const request = requestOf(route, values, query) as unknown as pb.SubscribeRequest;
      const authorization = req.headers.authorization;
      const recheck = auth && (() => auth.authorizeRpc(authorization, "Subscribe", request));
      recheck?.();
      const writer = new EventWriter(req, res, log, { method: "GET", route: route.template });
      const sink: StreamSink<pb.SubscribeResponse> = {
        write: (reply, sent) => writer.write(messageToJson(route.response, reply), sent),
        end: (err) => writer.end(err),
      };
      const session = new SubscribeSession(broker, request, sink, open, limits, watchOf(req, recheck));
      writer.start();
      res.once("close", () => session.close());
    },

    Consume(route, values, query, req, res) {
      const ack = query.get("ack") ?? "manual";
      if (ack !== "manual" && ack !== "auto") throw invalid(`ack must be manual or auto, got ${quoted(ack)}`);
      query.delete("ack");
      const request = requestOf(route, values, query) as unknown as pb.ConsumeSubscribe;
      const authorization = req.headers.authorization;
      const recheck = auth && (() => auth.authorizeRpc(authorization, "Consume", request));
      const tokenName = recheck?.();
      // No way back on this stream: acks come through unary routes, and what is settled at delivery returns credit once sent.
      const mode: ConsumeMode = { ackOnSend: ack === "auto", creditOnStream: false };
      const writer = new EventWriter(req, res, log, { method: "GET", route: route.template });
      const sink: StreamSink<pb.ConsumeResponse> = {
        write(reply, sent) {
          const last = reply.messages.length - 1;
          reply.messages.forEach((m, i) => writer.write(messageToJson(messageSchema, m), i === last ? sent : undefined));
        },
        end: (err) => writer.end(err),
      };
      const session = new ConsumeSession(broker, request, mode, sink, open, limits, watchOf(req, recheck), tokenName);
      writer.start();
      res.once("close", () => session.close());
    },
  };
}
