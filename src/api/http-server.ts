// The node's HTTP listener: the JSON gateway for every annotated RPC, the two
// streaming calls, the original gmq's API, the OpenAPI document and the
// operator endpoints. Everything is compiled once here into one route table
// (http-endpoints.ts, http-router.ts); a request is one lookup, then its endpoint runs.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { BrokerError, ErrorReason } from "../broker/index.js";
import type { NodeConfig } from "../config.js";
import { OPEN_RPCS, type Authorizer } from "./auth.js";
import type { ConsumerBoard } from "./consumers.js";
import type { UnaryHandlers } from "./handlers.js";
import { buildRouter } from "./http-endpoints.js";
import { bindRoutes, type GatewayHandlers } from "./http-gateway.js";
import { createHttpGuard, type HttpGuardConfig } from "./http-guard.js";
import { sendError } from "./http-io.js";
import type { HttpRouter } from "./http-router.js";
import { RouteTable } from "./http-routes.js";
import { createHttpStreams, streamRoutes } from "./http-streams.js";
import { createLegacyRoutes } from "./legacy-routes.js";
import { rateLimited } from "./log-limit.js";
import { createNodeMetrics, type MetricsSources, type NodeMetrics } from "./metrics.js";
import { buildOpenApi, openApiPath, type ExtraOperation } from "./openapi.js";
import { createOperator } from "./operator.js";
import { brokerProtoSchema, type ProtoSchema } from "./proto-schema.js";
import { httpErrorOf } from "./status.js";
import { streamLimitsOf, type LimitRejected, type StreamLimits } from "./stream-limits.js";
import { OpenStreams, type StreamBroker } from "./streams.js";
import { httpsServerOptions, loadTls } from "./tls.js";

export interface HttpLogger {
  debug?(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** What the HTTP side needs from the broker beyond the RPC handlers. */
export interface HttpBroker extends StreamBroker {
  isReady(): boolean;
}

export interface HttpServerOptions {
  config: Pick<
    NodeConfig,
    | "httpAddr"
    | "maxHttpBodyBytes"
    | "tlsCert"
    | "tlsKey"
    | "tlsClientCa"
    | "metrics"
    | "pprof"
    | "dashboard"
    | "maxHttpConnections"
    | "httpHeadersTimeoutMs"
    | "httpRequestTimeoutMs"
  > &
    HttpGuardConfig &
    Omit<StreamLimits, "rejected">;
  /** Counts requests refused or cut by a limit (gmq_limit_rejections_total). */
  limitRejected?: LimitRejected;
  broker: HttpBroker;
  /**
   * The in-process unary handlers, keyed by RPC name as in the proto
   * (createUnaryHandlers; tests serve a proto of their own). The original
   * API calls gmq's by name and type.
   */
  handlers: Partial<UnaryHandlers> & GatewayHandlers;
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
  /** Where Consume streams list themselves (shared with the gRPC server). */
  consumers?: ConsumerBoard;
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
  const schema = opts.schema ?? brokerProtoSchema();
  const handlers = opts.handlers;
  const table = new RouteTable(schema.rpcs);
  const bound = bindRoutes(table, handlers);
  const openStreams = new OpenStreams();
  // A reload that removes a token or narrows its grants ends the streams it opened.
  auth?.onReload(() => openStreams.recheck());
  const metrics = config.metrics ? (opts.metrics ?? createNodeMetrics(opts.metricsSources ?? { topicNames: () => [], topicStat: () => undefined })) : undefined;
  const streams = createHttpStreams(broker, schema.message("gmq.v1.Message"), openStreams, logger, streamLimitsOf(config, opts.limitRejected), auth, {
    meter: metrics?.streams,
    consumers: opts.consumers,
  });
  const streamTable = streamRoutes(schema);
  let draining = false;
  const activeCalls = new Set<AbortController>();
  const operator = createOperator({ isReady: () => !draining && broker.isReady(), metrics, pprof: config.pprof, dashboard: config.dashboard });
  const bodyLimit = { maxBytes: config.maxHttpBodyBytes, refused: () => opts.limitRejected?.("maxHttpBodyBytes") };
  const legacy = createLegacyRoutes({
    handlers,
    bodyLimit,
    auth,
  });
  const openapi = JSON.stringify(buildOpenApi(table.routes, extraOperations(streamTable.map((s) => s.template), [...operator.routes.keys()], ["/ping", ...legacy.keys()]), { title: "gmq", version: opts.version ?? "v1" }, { authRequired: Boolean(auth), openRpcs: OPEN_RPCS, openPaths: new Set([...operator.open, "/openapi.json", "/ping"]) }));
  // Host, Origin, Sec-Fetch-Site and content type, checked once per request before routing.
  const guard = createHttpGuard(config, legacy.keys());

  const observe = (method: string, start: bigint, code: string): void => {
    metrics?.observeRpc(method, "http", Number(process.hrtime.bigint() - start) / 1e9, code);
  };

  /** label names the call in metrics; route (the template, or the label) goes with an INTERNAL cause into the log. */
  const fail = (res: ServerResponse, err: unknown, label: string, start: bigint, method: string, route = label): void => {
    const e = httpErrorOf(err, logger, { method, route });
    // A client that goes away mid-body is no fault of the node's: logged at debug only.
    if (e.body.code === "CANCELLED") logger.debug?.({ route, err: (err as Error).message }, "http client went away");
    observe(label, start, e.body.code);
    // Refused by token auth before its body was read: the connection is
    // closed after the answer instead of reading (say) 50 MB for nobody.
    if ((e.body.code === "UNAUTHENTICATED" || e.body.code === "PERMISSION_DENIED") && !res.req.complete) res.shouldKeepAlive = false;
    sendError(res, e);
  };

  const router = buildRouter({
    rpcs: table,
    bound,
    streamRoutes: streamTable,
    streams,
    operator,
    openapi,
    legacy,
    auth,
    bodyLimit,
    activeCalls,
    logger,
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const start = process.hrtime.bigint();
    const method = req.method ?? "GET";
    try {
      if (!guard.admit(req, res)) return; // a CORS preflight, answered
    } catch (err) {
      fail(res, err, "refused", start, method); // Host, Origin or content type
      return;
    }
    const url = req.url ?? "/";
    const qAt = url.indexOf("?");
    const path = qAt < 0 ? url : url.slice(0, qAt);
    const query = new URLSearchParams(qAt < 0 ? "" : url.slice(qAt + 1));

    let match: ReturnType<HttpRouter["match"]>;
    try {
      match = router.match(method, path);
    } catch (err) {
      fail(res, err, "unmatched", start, method); // a malformed percent-encoding in a path variable
      return;
    }
    if (match.kind === "found") {
      const endpoint = match.value;
      try {
        const code = await endpoint.serve(req, res, match.values, query);
        if (code !== undefined) observe(endpoint.label, start, code);
      } catch (err) {
        fail(res, err, endpoint.label, start, method, endpoint.route);
      }
      return;
    }
    if (match.kind === "method-not-allowed") {
      const allow = match.allow.join(", ");
      const e = new BrokerError(ErrorReason.METHOD_NOT_ALLOWED, `${method} is not allowed on ${path}; allowed: ${allow}`, { metadata: { allow } });
      fail(res, e, "unmatched", start, method);
      return;
    }
    fail(res, new BrokerError(ErrorReason.PATH_NOT_FOUND, `no route for ${method} ${path}; see /openapi.json`), "unmatched", start, method);
  }

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((err: unknown) => {
      // Not a BrokerError, so logged (with the request) and answered as INTERNAL.
      sendError(res, httpErrorOf(err, logger, { method: req.method ?? "GET", route: req.url ?? "/" }));
    });
  };
  const tls = loadTls(config);
  // Slow or stalled clients are cut well before they pile up: headers and the
  // whole request (body included) have deadlines, checked every second or so.
  const timeouts = {
    headersTimeout: config.httpHeadersTimeoutMs,
    requestTimeout: config.httpRequestTimeoutMs,
    connectionsCheckingInterval: Math.min(1000, Math.floor(config.httpHeadersTimeoutMs / 4)),
  };
  const server = tls ? createHttpsServer({ ...httpsServerOptions(tls), ...timeouts }, listener) : createHttpServer(timeouts, listener);
  // Past the cap a new connection is closed at once, so descriptors never run out.
  server.maxConnections = config.maxHttpConnections;
  server.on("drop", () => opts.limitRejected?.("maxHttpConnections"));
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
        openStreams.closeAll();
        // Long polls end now (SHUTTING_DOWN) rather than at the grace timeout.
        for (const call of activeCalls) call.abort(new BrokerError(ErrorReason.SHUTTING_DOWN, "the node is shutting down"));
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
