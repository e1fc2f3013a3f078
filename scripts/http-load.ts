// One autocannon run against a URL, reduced to what the benchmark tables
// show. Shared by scripts/bench.ts (its HTTP rows) and scripts/bench-http.ts.
import { createRequire } from "node:module";

interface Histogram {
  average: number;
  p50: number;
  p99: number;
}
interface CannonResult {
  requests: Histogram;
  latency: Histogram;
  non2xx: number;
  errors: number;
  timeouts: number;
}
type Cannon = (opts: Record<string, unknown>) => Promise<CannonResult>;
const autocannon = createRequire(import.meta.url)("autocannon") as Cannon;

export interface LoadResult {
  reqPerS: number;
  p50Ms: number;
  p99Ms: number;
  /** Replies that were not 2xx, plus connection errors and timeouts. */
  failed: number;
}

/** opts are autocannon's (url, method, headers, body, pipelining, connections…). */
export async function httpLoad(seconds: number, opts: Record<string, unknown>): Promise<LoadResult> {
  const r = await autocannon({ connections: 32, duration: seconds, ...opts });
  return { reqPerS: r.requests.average, p50Ms: r.latency.p50, p99Ms: r.latency.p99, failed: r.non2xx + r.errors + r.timeouts };
}
