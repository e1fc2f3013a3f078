// The node's HTTP listener: the JSON gateway for every annotated RPC, the two
// streaming calls, the original gmq's API, the OpenAPI document and the
// operator endpoints. Everything is compiled once here; a request only looks
// up a route and runs it.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { NodeConfig } from "../config.js";
import { OPEN_RPCS, type Authorizer } from "./auth.js";
import { bindRoutes, serveRoute } from "./http-gateway.js";
import { createHttpGuard, type HttpGuardConfig } from "./http-guard.js";
import { HttpError, errorStatus, sendError, sendJson } from "./http-io.js";
import { RouteTable } from "./http-routes.js";
import { createStreams, streamRoutes, type StreamBroker } from "./http-streams.js";
import { createLegacyRoutes, serveLegacy, servePing } from "./legacy-routes.js";
import { rateLimited } from "./log-limit.js";
import { createNodeMetrics, type MetricsSources, type NodeMetrics } from "./metrics.js";
import { buildOpenApi, openApiPath, type ExtraOperation } from "./openapi.js";
import { createOperator } from "./operator.js";
import { loadProtoSchema, type ProtoSchema } from "./proto-schema.js";
import { toBrokerError } from "./status.js";
import { httpsServerOptions, loadTls } from "./tls.js";

export interface HttpLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** What the HTTP side needs from the broker beyond the RPC handlers. */
export interface HttpBroker extends StreamBroker {
  isReady(): boolean;
  deleteTopic(topic: string): void;
}

export interface HttpServerOptions {
  config: Pick<NodeConfig, "httpAddr" | "maxHttpBodyBytes" | "tlsCert" | "tlsKey" | "tlsClientCa" | "metrics" | "pprof" | "dashboard"> & HttpGuardConfig;
  broker: HttpBroker;
  /** The in-process unary handlers, keyed by RPC name as in the proto (createUnaryHandlers). */
  handlers: object;
  /** Shared with the gRPC server so both record latency in one registry; created here when absent. */
  metrics?: NodeMetrics;
  /** Read at scrape time when metrics are created here. */
  metricsSources?: MetricsSources;
  logger?: HttpLogger;
  /** The proto to serve; the broker's by default (tests pass their own). */
  schema?: ProtoSchema;
  version?: string;
  /** Token auth; every route is open without it. */
  auth?: Authorizer;
}

export interface RunningHttpServer {
  server: Server;
  /** host:port actually bound. */
  addr: string;
  metrics: NodeMetrics | undefined;
  routes: RouteTable;
  /** Ends streams, stops accepting, and closes connections after graceMs. */
  close(graceMs?: number): Promise<void>;
}

const silent: HttpLogger = { info() {}, warn() {}, error() {} };

export async function startHttpServer(opts: HttpServerOptions): Promise<RunningHttpServer> {
  const { config, broker, auth } = opts;
  const logger = opts.logger ?? silent;
  const schema = opts.schema ?? loadProtoSchema();
  const handlers = opts.handlers as Record<string, never>;
  const table = new RouteTable(schema.rpcs);
  const bound = bindRoutes(table, handlers);
  const streams = createStreams(broker, schema.message("gmq.v1.Message"), auth);
  const streamTable = streamRoutes(schema);
  const metrics = config.metrics ? (opts.metrics ?? createNodeMetrics(opts.metricsSources ?? { topicStats: () => [] })) : undefined;
  let draining = false;
  const activeCalls = new Set<AbortController>();
  const operator = createOperator({ isReady: () => !draining && broker.isReady(), metrics, pprof: config.pprof, dashboard: config.dashboard });
  const legacy = createLegacyRoutes({
    handlers,
    deleteTopic: (t) => broker.deleteTopic(t),
    maxBodyBytes: config.maxHttpBodyBytes,
    auth,
  });
  const openapi = JSON.stringify(buildOpenApi(table.routes, extraOperations(streamTable.map((s) => s.template), [...operator.routes.keys()], ["/ping", ...legacy.keys()]), { title: "gmq", version: opts.version ?? "v1" }, { authRequired: Boolean(auth), openRpcs: OPEN_RPCS, openPaths: new Set([...operator.open, "/openapi.json", "/ping"]) }));
  const maxBody = config.maxHttpBodyBytes;
  const guard = createHttpGuard(config, legacy.keys());

  const observe = (method: string, start: bigint, code: string): void => {
    metrics?.observeRpc(method, "http", Number(process.hrtime.bigint() - start) / 1e9, code);
  };

  const fail = (res: ServerResponse, err: unknown, label: string, start: bigint): void => {
    const e = errorStatus(err, toBrokerError);
    if (e.code === "INTERNAL") logger.error({ err, route: label }, "http request failed");
    observe(label, start, e.code);
    sendError(res, e);
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!guard.admit(req, res)) return;
    const start = process.hrtime.bigint();
    const url = req.url ?? "/";
    const qAt = url.indexOf("?");
    const path = qAt < 0 ? url : url.slice(0, qAt);
    const query = new URLSearchParams(qAt < 0 ? "" : url.slice(qAt + 1));
    const method = req.method ?? "GET";

    let match: ReturnType<RouteTable["match"]>;
    try {
      match = table.match(method, path);
    } catch (err) {
      fail(res, err, "unmatched", start); // a malformed percent-encoding in a path variable
      return;
    }
    if (match.kind === "found") {
      const { route, values } = match;
      const label = route.rpc.name;
      try {
        const authorize = auth && ((r: Record<string, unknown>) => auth.authorizeRpc(req.headers.authorization, label, r));
        await serveRoute(route, bound.get(route)!, values, query, req, res, maxBody, activeCalls, authorize);
        observe(label, start, "OK");
      } catch (err) {
        fail(res, err, label, start);
      }
      return;
    }

    for (const s of streamTable) {
      const m = s.regex.exec(path);
      if (!m) continue;
      try {
        if (method !== "GET") throw new HttpError(405, "INVALID_ARGUMENT", `${path} accepts GET only`, { allow: "GET" });
        const values = m.slice(1).map((v) => {
          try {
            return decodeURIComponent(v);
          } catch {
            throw new HttpError(400, "INVALID_ARGUMENT", "path variable: malformed percent-encoding");
          }
        });
        if (s.name === "Subscribe") streams.subscribe(s, values, query, req, res);
        else streams.consume(s, values, query, req, res);
      } catch (err) {
        fail(res, err, s.name, start);
      }
      return;
    }

    const op = operator.routes.get(path);
    if (op || path === "/openapi.json") {
      try {
        if (method !== "GET" && method !== "HEAD") throw new HttpError(405, "INVALID_ARGUMENT", `${path} accepts GET only`, { allow: "GET" });
        // Probes and the API description stay open; metrics and profiles are the node's admin's.
        if (auth && op && !operator.open.has(path)) auth.authorize(req.headers.authorization, "admin", ["*"]);
        if (op) await op(query, req, res);
        else {
          res.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(openapi) });
          res.end(openapi);
        }
      } catch (err) {
        fail(res, err, path, start);
      }
      return;
    }

    if (path === "/ping") {
      servePing(res);
      return;
    }
    if (path === "/" && operator.routes.has("/dashboard") && (method === "GET" || method === "HEAD")) {
      res.writeHead(302, { location: "/dashboard", "content-length": 0 });
      res.end();
      return;
    }
    const legacyRoute = legacy.get(path);
    if (legacyRoute) {
      observe(path, start, await serveLegacy(legacyRoute, query, req, res));
      return;
    }

    if (match.kind === "method-not-allowed") {
      fail(res, new HttpError(405, "INVALID_ARGUMENT", `${method} is not allowed on ${path}; allowed: ${match.allow.join(", ")}`, { allow: match.allow.join(", ") }), "unmatched", start);
      return;
    }
    fail(res, new HttpError(404, "NOT_FOUND", `no route for ${method} ${path}; see /openapi.json`), "unmatched", start);
  }

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((err: unknown) => {
      logger.error({ err }, "http handler crashed");
      if (!res.headersSent) sendJson(res, 500, { code: "INTERNAL", message: "internal error; see the node's log", details: [] });
      else res.destroy();
    });
  };
  const tls = loadTls(config);
  const server = tls ? createHttpsServer(httpsServerOptions(tls), listener) : createHttpServer(listener);
  server.keepAliveTimeout = 65_000;
  if (tls) {
    const limit = rateLimited(10_000);
    server.on("tlsClientError", (err, socket) => {
      limit((suppressed) => logger.warn({ err: err.message, remote: socket.remoteAddress, suppressed }, "https: TLS handshake failed"));
    });
  }

  const { host, port } = splitAddr(config.httpAddr);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const addr = `${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`;
  logger.info({ httpAddr: addr, tls: Boolean(tls), mutualTls: Boolean(tls?.clientCa) }, "http gateway listening");

  let closing: Promise<void> | undefined;
  return {
    server,
    addr,
    metrics,
    routes: table,
    close(graceMs = 5000) {
      closing ??= new Promise<void>((resolve) => {
        draining = true; // /readyz answers 503 on connections still open
        streams.registry.closeAll();
        for (const call of activeCalls) call.abort(); // long polls end now rather than at the grace timeout
        operator.close();
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        timer.unref();
        // Keep-alive connections become idle as their last replies go out: close them then.
        const sweep = setInterval(() => server.closeIdleConnections(), 25);
        server.close(() => {
          clearTimeout(timer);
          clearInterval(sweep);
          resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}

function splitAddr(addr: string): { host: string; port: number } {
  const at = addr.lastIndexOf(":");
  const host = addr.slice(0, at).replace(/^\[|\]$/g, "") || "127.0.0.1";
  return { host, port: Number(addr.slice(at + 1)) };
}

/** The routes served besides the annotated RPCs, for the OpenAPI document. */
function extraOperations(streamTemplates: string[], operatorPaths: string[], legacyPaths: string[]): ExtraOperation[] {
  const ok = (description: string, type = "application/json"): Record<string, object> => ({ "200": { description, content: { [type]: {} } } });
  const ops: ExtraOperation[] = streamTemplates.map((t) => ({
    method: "GET",
    path: openApiPath(t),
    operationId: t.endsWith(":subscribe") ? "Subscribe" : "Consume",
    summary: t.endsWith(":subscribe")
      ? "Subscribe to channels: one SubscribeResponse per line (NDJSON) or per event (Accept: text/event-stream)"
      : "Consume a queue: one Message per line (NDJSON) or per event (SSE); ack=manual|auto",
    tags: ["gmq.v1.BrokerService"],
    responses: ok("a stream", "application/x-ndjson"),
  }));
  for (const p of [...operatorPaths, "/openapi.json"]) {
    ops.push({ method: "GET", path: p, operationId: `operator${p.replace(/[^a-zA-Z]+(.)/g, (_, c: string) => c.toUpperCase())}`, summary: `operator endpoint ${p}`, responses: ok("OK") });
  }
  for (const p of legacyPaths) {
    ops.push({
      method: p === "/push" ? "POST" : "GET",
      path: p,
      operationId: `legacy${p.replace("/", "_")}`,
      summary: `the original gmq's ${p} (reply {"code","data","msg"})`,
      tags: ["legacy"],
      responses: ok("OK"),
    });
  }
  return ops;
}
