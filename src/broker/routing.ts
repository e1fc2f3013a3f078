// How a push's route key selects queues by their bind keys. REGEX follows the
// original gmq (Go's regexp.MatchString(routeKey, bindKey)): the pattern may
// match anywhere in the bind key, `^` and `$` anchor it. Patterns come from users, so they run on RE2 (linear time: no catastrophic
// backtracking can stall the event loop) and are compiled once per pattern.
import RE2 from "re2";
import { invalid } from "./errors.js";

export type RouteMode = "full" | "regex" | "wildcard";

/**
 * Compiled patterns, least recently used first, bounded by count and by an
 * estimate of their memory. RE2 refuses to compile a program past its
 * max_mem (8 MiB), so one pattern costs at most that: a pattern with Unicode
 * classes or large counted repetitions, nested ones multiplied
 * (`[\pL\pN]{300}N` compiles to ~3 MiB) is counted at that worst case, any
 * other at 64 KiB (route keys are
 * at most 256 characters). Such a pattern beyond the budget is compiled again
 * per push: RE2's compile and match are linear, so a push costs at most one
 * compile of an 8 MiB program and one match per bind key.
 */
const regexCache = new Map<string, { re: RE2; bytes: number }>();
const REGEX_CACHE_MAX = 1024;
export const REGEX_CACHE_MAX_BYTES = 64 * 1024 * 1024;
const RE2_MAX_PROGRAM_BYTES = 8 * 1024 * 1024;
const LIGHT_PATTERN_BYTES = 64 * 1024;
let regexCacheBytes = 0;
const ballast = new WeakMap<RE2, ArrayBuffer>();
/** The last pattern compiled and not cached: a push checks its route key, then routes with it. */
let uncached: { pattern: string; re: RE2 } | undefined;

/**
 * Heavy: a Unicode class, or counted repetitions whose counts multiply to 10
 * or more. Nested repeats multiply (`(?:(?:.{9}){9}){9}` compiles to ~0.5
 * MiB like `.{729}`); sequential ones are multiplied too, which overcounts
 * them, and an overcounted pattern is only compiled again per push.
 */
export function estimatedBytes(pattern: string): number {
  if (/\\[pP]/.test(pattern)) return RE2_MAX_PROGRAM_BYTES;
  let product = 1;
  for (const m of pattern.matchAll(/\{\s*(\d+)\s*(?:,\s*(\d*)\s*)?\}/g)) {
    product *= Math.max(1, Number(m[1]), Number(m[2] || 0));
    if (product >= 10) return RE2_MAX_PROGRAM_BYTES;
  }
  return LIGHT_PATTERN_BYTES;
}

function compileRegex(pattern: string): RE2 {
  const hit = regexCache.get(pattern);
  if (hit) {
    regexCache.delete(pattern); // most recently used last
    regexCache.set(pattern, hit);
    return hit.re;
  }
  if (uncached?.pattern === pattern) return uncached.re;
  let re: RE2;
  try {
    re = new RE2(pattern);
  } catch (err) {
    const m = (err as Error).message;
    throw invalid(`route_key ${JSON.stringify(pattern)} is not a valid RE2 regular expression: ${m.length > 200 ? `${m.slice(0, 200)}…` : m}`);
  }
  // RE2 does not tell V8 about the native memory of its program, so V8 would
  // not collect dropped patterns for it. An untouched ArrayBuffer of the
  // estimated size (calloc'd pages that are never written cost no RSS) makes
  // V8 count it as external memory and collect dropped patterns promptly.
  ballast.set(re, new ArrayBuffer(estimatedBytes(pattern)));
  uncached = { pattern, re };
  return re;
}

/** Keeps a pattern that routed a push somewhere, evicting the least recently used past the bounds. */
function remember(pattern: string, re: RE2): void {
  if (regexCache.has(pattern)) return;
  const bytes = estimatedBytes(pattern);
  while (regexCache.size > 0 && (regexCache.size >= REGEX_CACHE_MAX || regexCacheBytes + bytes > REGEX_CACHE_MAX_BYTES)) {
    const [oldest, entry] = regexCache.entries().next().value as [string, { re: RE2; bytes: number }];
    regexCache.delete(oldest);
    regexCacheBytes -= entry.bytes;
  }
  regexCache.set(pattern, { re, bytes });
  regexCacheBytes += bytes;
  if (uncached?.pattern === pattern) uncached = undefined;
}

/** Entries and estimated bytes of the compiled-pattern cache (for tests and metrics). */
export function regexCacheStats(): { entries: number; estimatedBytes: number } {
  return { entries: regexCache.size, estimatedBytes: regexCacheBytes };
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
      // A pattern that matches nothing fails its push: it is not kept.
      if (out.length > 0) remember(routeKey, re);
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
