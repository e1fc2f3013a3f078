// How a push's route key selects queues by their bind keys. REGEX patterns
// come from users, so they run on RE2 (linear time: no catastrophic
// backtracking can stall the event loop) and are compiled once per pattern.
import RE2 from "re2";
import { invalid } from "./errors.js";

export type RouteMode = "full" | "regex" | "wildcard";

const regexCache = new Map<string, RE2>();
const REGEX_CACHE_MAX = 1024;

function compileRegex(pattern: string): RE2 {
  let re = regexCache.get(pattern);
  if (re) return re;
  try {
    re = new RE2(`^(?:${pattern})$`);
  } catch (err) {
    throw invalid(`route_key ${JSON.stringify(pattern)} is not a valid RE2 regular expression: ${(err as Error).message}`);
  }
  if (regexCache.size >= REGEX_CACHE_MAX) regexCache.delete(regexCache.keys().next().value as string);
  regexCache.set(pattern, re);
  return re;
}

/** RabbitMQ topic-exchange matching: '*' is exactly one word, '#' zero or more. */
export function wildcardMatches(pattern: string, routeKey: string): boolean {
  const p = pattern.split(".");
  const k = routeKey.split(".");
  // Iterative matcher with one backtrack point per '#': linear in |p|*|k|.
  let pi = 0;
  let ki = 0;
  let starP = -1;
  let starK = 0;
  while (ki < k.length) {
    const seg = p[pi];
    if (seg === "#") {
      starP = pi++;
      starK = ki;
    } else if (seg !== undefined && (seg === "*" || seg === k[ki])) {
      pi++;
      ki++;
    } else if (starP >= 0) {
      pi = starP + 1;
      ki = ++starK;
    } else {
      return false;
    }
  }
  while (p[pi] === "#") pi++;
  return pi === p.length;
}

/** The bind keys (among `bindKeys`) that a push with `routeKey` goes to. */
export function route(mode: RouteMode, routeKey: string, bindKeys: Iterable<string>): string[] {
  const out: string[] = [];
  switch (mode) {
    case "full":
      for (const b of bindKeys) if (b === routeKey) out.push(b);
      break;
    case "regex": {
      const re = compileRegex(routeKey);
      for (const b of bindKeys) if (re.test(b)) out.push(b);
      break;
    }
    case "wildcard":
      for (const b of bindKeys) if (wildcardMatches(b, routeKey)) out.push(b);
      break;
  }
  return out;
}

/** Checks a route key is usable in a mode before anything is stored. */
export function checkRouteKeyForMode(mode: RouteMode, routeKey: string): void {
  if (mode === "regex") compileRegex(routeKey);
}
