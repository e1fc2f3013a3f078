// The original gmq's HTTP API (wuzhc/gmq, Go), kept verbatim so its README's
// curl walkthrough and existing scripts keep working: query-string parameters
// in the original's names, `POST /push` with a form field `data` holding JSON,
// delays in seconds, bodies as plain text, and the original's reply envelope
// {"code": 0 | 1, "data": ..., "msg": "..."} with HTTP 200. We add "error"
// (the gRPC code name) and "reason" to failures so scripts can branch on them.
// Every route calls the same in-process RPC handlers as the gateway.
import type { IncomingMessage, ServerResponse } from "node:http";
import { BrokerError, ErrorReason, invalid, malformed } from "../broker/index.js";
import type * as pb from "../gen/gmq/v1/broker.js";
import type { Authorizer } from "./auth.js";
import type { CallContext, ReplyOf, RequestOf, RpcName, Unary, UnaryHandlers } from "./handlers.js";
import { HttpCallContext } from "./http-gateway.js";
import { quoted, readBody, sendJson, type BodyLimit } from "./http-io.js";
import { legacyErrorOf, type ErrorLogger } from "./status.js";

type Query = URLSearchParams;
/** ctx carries the request's signal: the client going away or the node shutting down ends a waiting call. */
export type LegacyHandler = (query: Query, req: IncomingMessage, ctx: CallContext) => Promise<unknown>;

export interface LegacyDeps {
  /** The unary RPC handlers; a route whose RPC has none answers UNIMPLEMENTED. */
  handlers: Partial<UnaryHandlers>;
  bodyLimit: BodyLimit;
  /** Token auth: each route is checked as the RPCs it calls. */
  auth?: Authorizer;
}

/** Raised by a legacy route to answer with a plain message on success, as the original's JsonSuccess. */
class Success {
  constructor(readonly msg: string) {}
}

const required = (q: Query, name: string): string => {
  const v = q.get(name);
  if (!v) throw invalid(`${name} is empty`);
  return v;
};

const intParam = (q: Query, names: string[]): number | undefined => {
  for (const n of names) {
    const v = q.get(n);
    if (v === null || v === "") continue;
    if (!/^-?\d+$/.test(v)) throw invalid(`${n} must be an integer, got ${quoted(v)}`);
    return Number(v);
  }
  return undefined;
};

const pad = (n: number): string => String(n).padStart(2, "0");
/** The original's start_time format, "2006-01-02 15:04:05" in local time. */
function goTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** A TopicStat message in the original's topicData shape, plus our extra fields. */
function topicData(stat: pb.TopicStat): Record<string, unknown> {
  const config = stat.config;
  return {
    name: stat.topic,
    pop_num: Number(stat.popped),
    push_num: Number(stat.pushed),
    queue_num: Number(stat.backlog),
    delay_num: Number(stat.delayed),
    wait_ack_num: Number(stat.inFlight),
    dead_num: Number(stat.dead),
    start_time: goTime(Number(stat.createdAtMs)),
    is_auto_ack: Boolean(config?.autoAck),
    mode: config?.routeMode,
    msg_ttr: config?.msgTtr,
    msg_retry: config?.msgRetry,
    retry_backoff_ms: config?.retryBackoffMs,
    retry_backoff_max_ms: config?.retryBackoffMaxMs,
    msg_ttl_ms: Number(config?.msgTtlMs),
    expired_num: Number(stat.expired),
    queues: stat.queues.map((q) => ({
      bind_key: q.bindKey,
      name: q.name,
      ready: Number(q.ready),
      in_flight: Number(q.inFlight),
      delayed: Number(q.delayed),
      dead: Number(q.dead),
      expired: Number(q.expired),
    })),
  };
}

export function createLegacyRoutes(deps: LegacyDeps): Map<string, LegacyHandler> {
  const handle = async <K extends RpcName>(rpc: K, request: RequestOf<K>, ctx: CallContext = {}): Promise<ReplyOf<K>> => {
    const h: Unary<RequestOf<K>, ReplyOf<K>> | undefined = deps.handlers[rpc];
    if (!h) throw new BrokerError(ErrorReason.RPC_NOT_IMPLEMENTED, `${rpc} has no handler on this node`);
    return h(request, ctx);
  };
  /** Calls an RPC's handler as the HTTP request's caller (req carries the token). */
  const call = <K extends RpcName>(req: IncomingMessage, rpc: K, request: RequestOf<K>, ctx?: CallContext): Promise<ReplyOf<K>> => {
    const tokenName = deps.auth?.authorizeRpc(req.headers.authorization, rpc, request);
    if (ctx !== undefined) ctx.tokenName = tokenName;
    return handle(rpc, request, ctx);
  };
  const stat = async (req: IncomingMessage, topic: string): Promise<pb.TopicStat> => {
    const { stat } = await call(req, "GetTopicStat", { topic });
    if (!stat) throw new BrokerError(ErrorReason.INTERNAL_ERROR, `GetTopicStat of ${topic} answered without a stat`);
    return stat;
  };

  const routes = new Map<string, LegacyHandler>();

  // /config?topic=t&isAutoAck=1&mode=1&msgTTR=30&msgRetry=5 (the README also spells it isAuthoAck);
  // ours: retryBackoffMs, retryBackoffMaxMs, msgTtlMs, dedupWindowMs (ms), trace (0 or 1)
  routes.set("/config", async (q, req) => {
    const topic = required(q, "topic");
    const autoAck = intParam(q, ["isAutoAck", "isAuthoAck"]);
    const mode = intParam(q, ["mode"]);
    const ttr = intParam(q, ["msgTTR", "msgTtr"]);
    const retry = intParam(q, ["msgRetry"]);
    const backoff = intParam(q, ["retryBackoffMs", "retryBackoff"]);
    const backoffMax = intParam(q, ["retryBackoffMaxMs", "retryBackoffMax"]);
    const ttl = intParam(q, ["msgTtlMs"]);
    const dedupWindow = intParam(q, ["dedupWindowMs"]);
    const trace = intParam(q, ["trace"]);
    if (mode !== undefined && mode !== 1 && mode !== 2 && mode !== 3) throw invalid("mode must be 1 (full match), 2 (fuzzy/regex) or 3 (wildcard)");
    if (ttr !== undefined && ttr < 0) throw invalid("msgTTR must not be negative");
    if (retry !== undefined && retry < 0) throw invalid("msgRetry must not be negative");
    if (backoff !== undefined && backoff < 0) throw invalid("retryBackoffMs must not be negative");
    if (backoffMax !== undefined && backoffMax < 0) throw invalid("retryBackoffMaxMs must not be negative");
    if (ttl !== undefined && ttl < 0) throw invalid("msgTtlMs must not be negative");
    if (dedupWindow !== undefined && dedupWindow < 0) throw invalid("dedupWindowMs must not be negative");
    const reply = await call(req, "Config", {
      topic,
      autoAck: autoAck === undefined ? undefined : autoAck !== 0,
      routeMode: mode ?? 0,
      msgTtr: ttr ?? 0,
      msgRetry: retry,
      retryBackoffMs: backoff,
      retryBackoffMaxMs: backoffMax,
      msgTtlMs: ttl === undefined ? undefined : BigInt(ttl),
      dedupWindowMs: dedupWindow === undefined ? undefined : BigInt(dedupWindow),
      trace: trace === undefined ? undefined : trace !== 0,
    });
    const c = reply.config;
    return {
      topic,
      isAutoAck: c?.autoAck ? 1 : 0,
      mode: c?.routeMode,
      msgTTR: c?.msgTtr,
      msgRetry: c?.msgRetry,
      retryBackoffMs: c?.retryBackoffMs,
      retryBackoffMaxMs: c?.retryBackoffMaxMs,
      msgTtlMs: Number(c?.msgTtlMs ?? 0),
      dedupWindowMs: Number(c?.dedupWindowMs ?? 0),
      trace: c?.trace ? 1 : 0,
    };
  });

  routes.set("/declareQueue", async (q, req) => {
    await call(req, "DeclareQueue", { topic: required(q, "topic"), bindKey: required(q, "bindKey") });
    return new Success("ok");
  });

  // POST /push with form field data={"body":"...","topic":"...","delay":0,"route_key":"..."}; (new) "ttl" in seconds like "delay",
  // and "idempotency_key" (the reply then says whether it was a duplicate); (new) "priority" 0..9 (absent: the topic's default)
  routes.set("/push", async (q, req) => {
    // Refused at the headers without a token that may push somewhere: the body is never read.
    deps.auth?.authenticate(req.headers.authorization, "push");
    const raw = await readBody(req, deps.bodyLimit);
    const type = String(req.headers["content-type"] ?? "");
    let data: string | null;
    if (type.startsWith("application/json")) data = raw.toString("utf8");
    else data = new URLSearchParams(raw.toString("utf8")).get("data") ?? q.get("data");
    if (!data) throw invalid("data is empty");
    let msg: unknown;
    try {
      msg = JSON.parse(data);
    } catch (err) {
      throw malformed(`data is not valid JSON: ${(err as Error).message}`);
    }
    if (typeof msg !== "object" || msg === null || Array.isArray(msg)) throw malformed("data must be a JSON object");
    const m = msg as Record<string, unknown>;
    const body = m["body"] ?? "";
    const topic = m["topic"];
    const routeKey = m["route_key"] ?? m["routeKey"] ?? "";
    const delay = m["delay"] ?? 0;
    const ttl = m["ttl"] ?? 0;
    const key = m["idempotency_key"] ?? m["idempotencyKey"] ?? "";
    const priority = m["priority"];
    if (typeof topic !== "string" || !topic) throw invalid("topic is empty");
    if (typeof body !== "string") throw invalid("body must be a string");
    if (typeof routeKey !== "string") throw invalid("route_key must be a string");
    if (typeof delay !== "number" || !Number.isFinite(delay) || delay < 0) throw invalid("delay must be a non-negative number of seconds");
    if (typeof ttl !== "number" || !Number.isFinite(ttl) || ttl < 0) throw invalid("ttl must be a non-negative number of seconds");
    if (typeof key !== "string") throw invalid("idempotency_key must be a string");
    if (priority !== undefined && priority !== null && typeof priority !== "number") throw invalid("priority must be a number 0..9");
    const reply = await call(req, "Push", {
      topic,
      routeKey,
      body: Buffer.from(body, "utf8"),
      delayMs: BigInt(Math.round(delay * 1000)),
      ttlMs: BigInt(Math.round(ttl * 1000)),
      idempotencyKey: key,
      ...(typeof priority === "number" && { priority }),
    });
    return key === "" ? { msgId: String(reply.id) } : { msgId: String(reply.id), duplicate: reply.duplicate };
  });

  routes.set("/pop", async (q, req, ctx) => {
    const reply = await call(req, "Pop", { topic: required(q, "topic"), bindKey: required(q, "bindKey"), waitMs: intParam(q, ["waitMs"]) ?? 0 }, ctx);
    const m = reply.message;
    if (!m) throw new BrokerError(ErrorReason.INTERNAL_ERROR, "Pop answered without a message");
    return { id: String(m.id), body: Buffer.from(m.body).toString("utf8"), retry: m.retry };
  });

  routes.set("/ack", async (q, req) => {
    const id = required(q, "msgId");
    if (!/^\d+$/.test(id)) throw invalid(`msgId must be a decimal message id, got ${quoted(id)}`);
    const topic = required(q, "topic");
    try {
      await call(req, "Ack", { topic, bindKey: required(q, "bindKey"), id: BigInt(id) });
    } catch (err) {
      // On an auto-ack topic the message was settled at delivery: the
      // original's walkthrough (which turns auto-ack on) still acks it.
      // The caller may consume here, which is all an ack needs: no admin grant to read the config.
      if (!(err instanceof BrokerError && err.reason === ErrorReason.NOT_IN_FLIGHT && (await handle("GetTopicStat", { topic })).stat?.config?.autoAck)) throw err;
    }
    return new Success("success");
  });

  routes.set("/getTopicStat", async (q, req) => topicData(await stat(req, required(q, "topic"))));

  routes.set("/getAllTopicStat", async (_q, req) => {
    const { topics } = await call(req, "ListTopics", {});
    const out: Record<string, unknown>[] = [];
    for (const t of topics) {
      try {
        out.push(topicData(await stat(req, t.topic)));
      } catch (err) {
        if (!(err instanceof BrokerError && err.reason === ErrorReason.TOPIC_NOT_FOUND)) throw err; // deleted meanwhile
      }
    }
    return out;
  });

  routes.set("/exitTopic", async (q, req) => {
    const topic = required(q, "topic");
    await call(req, "DeleteTopic", { topic }); // NOT_FOUND for a topic that does not exist, as the original
    return new Success(`topic.${topic} has exit.`);
  });

  // The original toggles; isAutoAck=0|1 sets it explicitly.
  routes.set("/setIsAutoAck", async (q, req) => {
    const topic = required(q, "topic");
    const given = intParam(q, ["isAutoAck"]);
    const current = Boolean((await stat(req, topic)).config?.autoAck);
    await call(req, "Config", { topic, autoAck: given === undefined ? !current : given !== 0, routeMode: 0, msgTtr: 0, msgRetry: undefined });
    return new Success("success");
  });

  routes.set("/getQueuesByTopic", async (q, req) => {
    const topic = required(q, "topic");
    const { bindKeys } = await call(req, "ListQueues", { topic });
    return Object.fromEntries(bindKeys.map((k) => [k, `${topic}_${k}`]));
  });

  return routes;
}

/** Runs a legacy route and answers in the original's envelope; returns the gRPC code name for metrics. */
export async function serveLegacy(
  handler: LegacyHandler,
  query: Query,
  req: IncomingMessage,
  res: ServerResponse,
  log: ErrorLogger,
  /** Signals of calls in progress, aborted when the node shuts down. */
  active: Set<AbortController>,
): Promise<string> {
  // A long-polling /pop waits on this context's signal, like the gateway's Pop.
  const context = new HttpCallContext(req, res, active, undefined);
  try {
    const data = await handler(query, req, context);
    if (data instanceof Success) sendJson(res, 200, { code: 0, data: null, msg: data.msg });
    else sendJson(res, 200, { code: 0, data, msg: "success" });
    return "OK";
  } catch (err) {
    const e = legacyErrorOf(err, log, { method: req.method ?? "GET", route: (req.url ?? "/").split("?")[0]! });
    sendJson(res, e.status, e.body);
    return e.body.error;
  } finally {
    context.done();
  }
}

/** The original's /ping answers a bare "OK". */
export function servePing(res: ServerResponse): void {
  res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "content-length": 2 });
  res.end("OK");
}
