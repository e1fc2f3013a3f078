// What a browser may do to the HTTP listener. Without it any web page the
// user opens can drive a node on localhost: an <img> GET to /exitTopic
// deletes a topic, a no-cors POST stores a message, and a page on a name
// rebound to 127.0.0.1 reads everything. Before any route runs, a request
// must
//  - name an allowed Host: loopback names, IP literals (a rebound name never
//    is one), the node's own listen and advertised hosts, --http-allowed-hosts;
//  - not come cross-site from a browser: an Origin other than the node's own
//    must be listed in --http-cors-origins (which then gets CORS headers and
//    preflight answers), and a request without Origin that the browser marks
//    Sec-Fetch-Site: same-site or cross-site (an <img>, a link) is refused;
//  - send a body (outside the original API's routes) as JSON, which a page
//    cannot do cross-origin without a preflight.
// Requests without Origin and Sec-Fetch-Site (curl, servers, SDKs) only meet
// the Host and content-type checks. A refusal is a BrokerError with its
// reason (HOST_NOT_ALLOWED, CROSS_SITE_REFUSED, UNSUPPORTED_CONTENT_TYPE),
// answered by http-server.ts through status.ts like any other failure.
import type { IncomingMessage, ServerResponse } from "node:http";
import { isIP } from "node:net";
import { BrokerError, ErrorReason } from "../broker/index.js";
import type { NodeConfig } from "../config.js";

export type HttpGuardConfig = Pick<NodeConfig, "httpAddr"> & Partial<Pick<NodeConfig, "advertiseHttpAddr" | "httpAllowedHosts" | "httpCorsOrigins">>;

export interface HttpGuard {
  /**
   * True when the request may go on to routing (CORS headers for a listed
   * origin are set on res); false when the guard answered it itself (a CORS
   * preflight). Throws the refusal as a BrokerError, with Vary: Origin set on res.
   */
  admit(req: IncomingMessage, res: ServerResponse): boolean;
}

const CORS_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE";
const CORS_HEADERS = "authorization, content-type, accept, last-event-id";
const PREFLIGHT_MAX_AGE_S = "600";
const MAX_ADMITTED_HOSTS = 256;

/** The host part of a Host header or host:port address, lower case, without brackets or a trailing dot. */
export function hostOf(hostPort: string): string {
  let h = hostPort.trim().toLowerCase();
  if (h.startsWith("[")) h = h.slice(1, h.indexOf("]") < 0 ? undefined : h.indexOf("]"));
  else if (h.lastIndexOf(":") > 0 && h.indexOf(":") === h.lastIndexOf(":")) h = h.slice(0, h.lastIndexOf(":"));
  return h.endsWith(".") ? h.slice(0, -1) : h;
}

function hostMatcher(config: HttpGuardConfig): (host: string) => boolean {
  const names = new Set(["localhost"]);
  const suffixes = [".localhost"];
  let any = false;
  for (const addr of [config.httpAddr, config.advertiseHttpAddr ?? ""]) if (addr) names.add(hostOf(addr));
  for (const raw of config.httpAllowedHosts ?? []) {
    const h = hostOf(raw);
    if (h === "*") any = true;
    else if (h.startsWith("*.")) suffixes.push(h.slice(1));
    else names.add(h);
  }
  return (host) => any || isIP(host) !== 0 || names.has(host) || suffixes.some((s) => host.endsWith(s));
}

/** Built once at start from the config. formPaths: the original API's routes, whose bodies are form-encoded. */
export function createHttpGuard(config: HttpGuardConfig, formPaths: Iterable<string>): HttpGuard {
  const hostAllowed = hostMatcher(config);
  const origins = new Set((config.httpCorsOrigins ?? []).map((o) => o.toLowerCase().replace(/\/$/, "")));
  const anyOrigin = origins.has("*");
  const forms = new Set(formPaths);
  /** Host headers seen and allowed: the check (parsing, an IP literal test, the lists) runs once per distinct header. */
  const admittedHosts = new Set<string>();

  const refuse = (res: ServerResponse, reason: ErrorReason, message: string): never => {
    res.setHeader("vary", "Origin");
    throw new BrokerError(reason, message);
  };

  return {
    admit(req, res) {
      const hostHeader = req.headers.host;
      if (hostHeader !== undefined && !admittedHosts.has(hostHeader)) {
        const host = hostOf(hostHeader);
        if (!hostAllowed(host)) {
          return refuse(res, ErrorReason.HOST_NOT_ALLOWED, `host ${JSON.stringify(host)} is not served here; list it in --http-allowed-hosts`);
        }
        // Clients send the same few Host headers over and over; a client sending many different ones only empties the set.
        if (admittedHosts.size >= MAX_ADMITTED_HOSTS) admittedHosts.clear();
        admittedHosts.add(hostHeader);
      }

      const origin = req.headers.origin?.toLowerCase();
      if (origin !== undefined) {
        const sameOrigin = hostHeader !== undefined && origin.replace(/^[a-z]+:\/\//, "") === hostHeader.toLowerCase();
        const listed = anyOrigin || origins.has(origin);
        if (!sameOrigin && !listed) {
          return refuse(res, ErrorReason.CROSS_SITE_REFUSED, `cross-origin requests from ${origin} are refused; list the origin in --http-cors-origins`);
        }
        if (listed && !sameOrigin) {
          res.setHeader("access-control-allow-origin", anyOrigin ? "*" : req.headers.origin!);
          res.setHeader("vary", "Origin");
          if (req.method === "OPTIONS" && req.headers["access-control-request-method"] !== undefined) {
            const head: Record<string, string> = {
              "access-control-allow-methods": CORS_METHODS,
              "access-control-allow-headers": CORS_HEADERS,
              "access-control-max-age": PREFLIGHT_MAX_AGE_S,
              "content-length": "0",
            };
            if (req.headers["access-control-request-private-network"] === "true") head["access-control-allow-private-network"] = "true";
            res.writeHead(204, head);
            res.end();
            return false;
          }
        }
      } else {
        // An <img>, a link or a form GET carries no Origin; the browser still says where it came from.
        const site = req.headers["sec-fetch-site"];
        if (site === "cross-site" || site === "same-site") {
          return refuse(res, ErrorReason.CROSS_SITE_REFUSED, "cross-site requests without an Origin are refused");
        }
      }

      const method = req.method ?? "GET";
      const declared = req.headers["content-type"];
      if (declared !== "application/json" && method !== "GET" && method !== "HEAD" && method !== "OPTIONS" && hasBody(req) && !forms.has(pathOf(req.url ?? "/"))) {
        const type = String(declared ?? "").split(";")[0]!.trim().toLowerCase();
        if (type !== "application/json" && !/^application\/[a-z0-9.+-]+\+json$/.test(type)) {
          req.resume();
          return refuse(res, ErrorReason.UNSUPPORTED_CONTENT_TYPE, `request bodies must be JSON: send content-type: application/json (got ${type || "none"})`);
        }
      }
      return true;
    },
  };
}

function hasBody(req: IncomingMessage): boolean {
  return req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
}

function pathOf(url: string): string {
  const q = url.indexOf("?");
  return q < 0 ? url : url.slice(0, q);
}
