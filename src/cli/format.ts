// Output for the gmq CLI: aligned tables for people, one JSON object per line
// for scripts (--json). uint64 values (bigint) print as decimal strings.
import type { Delivery } from "../client/index.js";

export function toJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (typeof x === "bigint") return x.toString();
    if (Buffer.isBuffer(x)) return x.toString("utf8");
    if (x && typeof x === "object" && (x as { type?: string }).type === "Buffer" && Array.isArray((x as { data?: unknown }).data)) {
      return Buffer.from((x as { data: number[] }).data).toString("utf8");
    }
    return x;
  });
}

/** Renders rows as an aligned text table with a header line. */
export function table(headers: string[], rows: Array<Array<string | number | bigint | boolean | undefined>>): string {
  const cells = rows.map((r) => r.map((c) => (c === undefined ? "" : String(c))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? "").length)));
  const numeric = headers.map((_, i) => cells.length > 0 && cells.every((r) => /^-?\d[\d,]*(\.\d+)?(%|\/s| ms)?$|^$/.test(r[i] ?? "")));
  const line = (r: string[]) =>
    r
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n");
}

/** A message as JSON-friendly data (body as UTF-8 text). */
export function messageData(m: Delivery): Record<string, unknown> {
  return {
    id: m.id.toString(),
    topic: m.topic,
    bind_key: m.bindKey,
    route_key: m.routeKey,
    body: m.body.toString("utf8"),
    retry: m.retry,
    created_at_ms: Number(m.createdAtMs),
    deadline_ms: Number(m.deadlineMs),
    expires_at_ms: Number(m.expiresAtMs),
    priority: m.priority,
    node: m.node,
  };
}

/** One line per message for people: id, node, retry count and the body. */
export function messageLine(m: Delivery): string {
  const retry = m.retry > 0 ? ` retry=${m.retry}` : "";
  const priority = m.priority > 0 ? ` priority=${m.priority}` : "";
  return `${m.id} [${m.node}]${retry}${priority} ${m.body.toString("utf8")}`;
}

export function formatTime(ms: number | bigint): string {
  const n = Number(ms);
  return n > 0 ? new Date(n).toISOString().replace(/\.\d+Z$/, "Z") : "";
}

/** What every duration option's help says about units. */
export const durationHelp = "Durations take their unit: 500ms, 10s, 2m, 1h. A bare number is refused (write 10s or 10ms), except 0 and in options whose name ends in -ms, where it is milliseconds.";

/**
 * Parses a duration option to milliseconds: "500ms", "10s", "2m", "1h", or 0.
 * A bare number means one unit everywhere or nothing: it is milliseconds only
 * for options named *-ms (`bareIsMs`); elsewhere it is refused with a hint,
 * since `--ttr 30` (seconds in the API) and `--delay 10` would read alike.
 */
export function parseDuration(option: string, s: string, bareIsMs = option.endsWith("-ms")): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s.trim());
  if (!m) throw new Error(`invalid duration ${JSON.stringify(s)} for ${option} (write e.g. 500ms, 10s, 2m)`);
  const n = Number(m[1]);
  if (m[2] === undefined && n !== 0 && !bareIsMs) throw new Error(`${option} ${s}: give the unit, e.g. ${s}s or ${s}ms`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? "ms"]!;
  return Math.round(n * unit);
}
