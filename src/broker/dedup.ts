// Idempotent publish: a topic's window of recently used idempotency keys.
// A push whose key is in the window is answered with the first message's id
// and stores nothing. Keys are held in push order (a Map keeps insertion
// order), so expiring them is a sweep from the head: memory is bounded by the
// keys pushed within one window.
import { invalid } from "./errors.js";

/** Longest idempotency key, in bytes of UTF-8. */
export const MAX_IDEMPOTENCY_KEY_BYTES = 256;
/** How long a key is remembered unless the topic says otherwise (2 minutes). */
export const DEFAULT_DEDUP_WINDOW_MS = 120_000;
/** Longest window a topic may set (24 h). */
export const MAX_DEDUP_WINDOW_MS = 86_400_000;

/** Throws INVALID_ARGUMENT for a key the broker does not accept ("" is fine: no key). */
export function checkIdempotencyKey(key: string): void {
  if (key.length === 0) return;
  const bytes = key.length * 3 <= MAX_IDEMPOTENCY_KEY_BYTES ? key.length : Buffer.byteLength(key, "utf8");
  if (bytes > MAX_IDEMPOTENCY_KEY_BYTES) {
    throw invalid(`idempotency_key must be at most ${MAX_IDEMPOTENCY_KEY_BYTES} bytes of UTF-8, got ${bytes}`);
  }
}

interface Seen {
  id: bigint;
  /** When the push that first used the key was accepted. */
  atMs: number;
}

export class DedupWindow {
  private readonly seen = new Map<string, Seen>();

  /** The id first pushed with `key` if that was less than windowMs before nowMs. */
  lookup(key: string, nowMs: number, windowMs: number): bigint | undefined {
    const s = this.seen.get(key);
    if (s === undefined) return undefined;
    if (nowMs - s.atMs < windowMs) return s.id;
    this.seen.delete(key);
    return undefined;
  }

  /** Records a key after its push was stored. Re-inserting moves it to the tail, keeping push order. */
  remember(key: string, id: bigint, atMs: number): void {
    this.seen.delete(key);
    this.seen.set(key, { id, atMs });
  }

  /** Forgets a key whose push failed after it was remembered (the commit failed), unless reused since. */
  forget(key: string, id: bigint): void {
    if (this.seen.get(key)?.id === id) this.seen.delete(key);
  }

  /** Drops keys whose window ended, from the oldest; stops at the first still inside it. */
  sweep(nowMs: number, windowMs: number): void {
    for (const [key, s] of this.seen) {
      if (nowMs - s.atMs < windowMs) return;
      this.seen.delete(key);
    }
  }

  clear(): void {
    this.seen.clear();
  }

  get size(): number {
    return this.seen.size;
  }
}
