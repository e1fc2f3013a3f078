// Operator endpoints on the HTTP address: liveness, readiness, Prometheus
// metrics, pprof profiles (the original shipped Go's net/http/pprof) and a
// live dashboard. /metrics, /debug/pprof/* and /dashboard can each be
// switched off by config.
import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { heap, time, encode } from "@datadog/pprof";
import { BrokerError, ErrorReason, invalid } from "../broker/index.js";
import { CODE_DIR } from "../paths.js";
import type { NodeMetrics } from "./metrics.js";
import { sendJson } from "./http-io.js";

export type OperatorHandler = (query: URLSearchParams, req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

export interface OperatorOptions {
  isReady(): boolean;
  metrics?: NodeMetrics;
  pprof: boolean;
  dashboard: boolean;
}

/** The dashboard: its page, its script, and uPlot (vendored; see dashboard/VENDORED.md). */
const DASHBOARD_FILES = [
  ["/dashboard", "index.html", "text/html; charset=utf-8"],
  ["/dashboard/app.js", "app.js", "text/javascript; charset=utf-8"],
  ["/dashboard/uPlot.iife.min.js", "uPlot.iife.min.js", "text/javascript; charset=utf-8"],
  ["/dashboard/uPlot.min.css", "uPlot.min.css", "text/css; charset=utf-8"],
] as const;

const heapIntervalBytes = 512 * 1024;
const heapStackDepth = 64;
let heapUsers = 0;
let cpuProfileRunning = false;

export interface Operator {
  routes: Map<string, OperatorHandler>;
  /** Paths served without a token when auth is on (probes). */
  open: ReadonlySet<string>;
  close(): void;
}

export function createOperator(opts: OperatorOptions): Operator {
  const routes = new Map<string, OperatorHandler>();

  routes.set("/healthz", (_q, _req, res) => sendJson(res, 200, { status: "ok" }));
  routes.set("/readyz", (_q, _req, res) => {
    const ready = opts.isReady();
    sendJson(res, ready ? 200 : 503, { ready });
  });

  if (opts.metrics) {
    const registry = opts.metrics.registry;
    const metrics = opts.metrics;
    routes.set("/metrics", async (_q, _req, res) => {
      res.writeHead(200, { "content-type": registry.contentType });
      for await (const piece of metrics.scrape()) {
        if (res.destroyed) return;
        res.write(piece);
      }
      res.end();
    });
  }

  let heapStarted = false;
  if (opts.pprof) {
    // Heap sampling runs from start so a heap profile covers the node's life,
    // as Go's does; one sampler per process, shared by every node in it.
    if (heapUsers++ === 0) heap.start(heapIntervalBytes, heapStackDepth);
    heapStarted = true;

    routes.set("/debug/pprof/profile", async (q, _req, res) => {
      const raw = q.get("seconds") ?? "30";
      const seconds = Number(raw);
      if (!/^\d+(\.\d+)?$/.test(raw) || seconds <= 0 || seconds > 300) throw invalid("seconds must be a number in (0, 300]");
      if (cpuProfileRunning) throw new BrokerError(ErrorReason.PROFILE_IN_PROGRESS, "a CPU profile is already being taken; try again when it ends");
      cpuProfileRunning = true;
      try {
        const profile = await time.profile({ durationMillis: Math.round(seconds * 1000) });
        sendProfile(res, await encode(profile), "profile");
      } finally {
        cpuProfileRunning = false;
      }
    });
    routes.set("/debug/pprof/heap", async (_q, _req, res) => {
      sendProfile(res, await encode(heap.profile()), "heap");
    });
  }

  const open = new Set(["/healthz", "/readyz"]);
  if (opts.dashboard) {
    // Pages without data: what they show comes from the gateway's routes, with the token the user types in.
    for (const [path, file, type] of DASHBOARD_FILES) {
      const body = readFileSync(join(CODE_DIR, "api/dashboard", file));
      routes.set(path, (_q, _req, res) => {
        res.writeHead(200, {
          "content-type": type,
          "content-length": body.length,
          "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
          "x-content-type-options": "nosniff",
          "cache-control": "no-cache",
        });
        res.end(body);
      });
      open.add(path);
    }
  }

  return {
    routes,
    open,
    close() {
      if (heapStarted && --heapUsers === 0) heap.stop();
      heapStarted = false;
    },
  };
}

/** pprof's encode output is already gzipped protobuf, as `go tool pprof` expects. */
function sendProfile(res: ServerResponse, gz: Buffer, name: string): void {
  res.writeHead(200, {
    "content-type": "application/octet-stream",
    "content-disposition": `attachment; filename="${name}.pb.gz"`,
    "content-length": gz.length,
  });
  res.end(gz);
}
