// Builds the node's one HTTP route table (http-router.ts) at start-up from
// its parts: each route becomes an Endpoint that serves a matched request.
import type { ServerResponse } from "node:http";
import { actionOfRpc, type Authorizer } from "./auth.js";
import { serveRoute, type UnaryHandler } from "./http-gateway.js";
import type { BodyLimit } from "./http-io.js";
import { HttpRouter } from "./http-router.js";
import type { Route, RouteTable } from "./http-routes.js";
import type { HttpStreamHandler, StreamRoute } from "./http-streams.js";
import { serveLegacy, servePing, type LegacyHandler } from "./legacy-routes.js";
import type { Operator } from "./operator.js";
import type { ErrorLogger } from "./status.js";

export interface RouterParts {
  /** The annotated RPCs' routes, each with its handler (bindRoutes). */
  rpcs: RouteTable;
  bound: Map<Route, UnaryHandler>;
  streamRoutes: StreamRoute[];
  streams: Record<StreamRoute["name"], HttpStreamHandler>;
  operator: Operator;
  /** The OpenAPI document, serialised once. */
  openapi: string;
  legacy: Map<string, LegacyHandler>;
  auth: Authorizer | undefined;
  bodyLimit: BodyLimit;
  /** Signals of calls in progress, aborted when the node shuts down. */
  activeCalls: Set<AbortController>;
  /** Where the original API's internal faults are logged. */
  logger: ErrorLogger;
}

const GET = ["GET"] as const;

export function buildRouter(p: RouterParts): HttpRouter {
  const { auth } = p;
  const router = new HttpRouter();

  for (const route of p.rpcs.routes) {
    const handler = p.bound.get(route)!;
    const label = route.rpc.name;
    const action = actionOfRpc(label);
    router.template(route.method, route, {
      label,
      route: route.template,
      async serve(req, res, values, query) {
        const authorization = req.headers.authorization;
        const authorize = auth && {
          before: () => action && auth.authenticate(authorization, action),
          request: (r: Record<string, unknown>) => auth.authorizeRpc(authorization, label, r),
        };
        await serveRoute(route, handler, values, query, req, res, p.bodyLimit, p.activeCalls, authorize);
        return "OK";
      },
    });
  }

  for (const s of p.streamRoutes) {
    const open = p.streams[s.name];
    router.template("GET", s, {
      label: s.name,
      route: s.template,
      serve(req, res, values, query) {
        open(s, values, query, req, res);
        return undefined;
      },
    });
  }

  for (const [path, op] of p.operator.routes) {
    // Probes and the dashboard page stay open (operator.open); metrics and profiles are the node's admin's.
    const adminOnly = !p.operator.open.has(path);
    router.path(path, GET, {
      label: path,
      async serve(req, res, _values, query) {
        if (auth && adminOnly) auth.authorize(req.headers.authorization, "admin", ["*"]);
        await op(query, req, res);
        return undefined;
      },
    });
  }

  router.path("/openapi.json", GET, {
    label: "/openapi.json",
    serve(_req, res) {
      res.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(p.openapi) });
      res.end(p.openapi);
      return undefined;
    },
  });

  if (p.operator.routes.has("/dashboard")) {
    router.path("/", GET, {
      label: "/",
      serve: (_req, res) => redirect(res, "/dashboard"),
    });
  }

  router.path("/ping", undefined, {
    label: "/ping",
    serve(_req, res) {
      servePing(res);
      return undefined;
    },
  });
  for (const [path, handler] of p.legacy) {
    router.path(path, undefined, { label: path, serve: (req, res, _values, query) => serveLegacy(handler, query, req, res, p.logger, p.activeCalls) });
  }
  return router;
}

function redirect(res: ServerResponse, location: string): undefined {
  res.writeHead(302, { location, "content-length": 0 });
  res.end();
  return undefined;
}
