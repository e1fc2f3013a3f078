/** The body crash-child.ts gives message `id` (length and bytes derive from the id). */
export function bodyFor(id: bigint): Buffer {
  const n = Number(id % 300n);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (Number(id & 0xffn) + i * 7) & 0xff;
  return b;
}

/**
 * Expiry the child gives message `id`: far in the future (year 2096, so it
 * never passes during the test) for one id in 8, a short one (given by the
 * child, may pass) for one in 16, none for the rest.
 */
export function expiryKind(id: bigint): "far" | "short" | "none" {
  if (id % 8n === 3n) return "far";
  if (id % 16n === 5n) return "short";
  return "none";
}
export const farExpiry = (id: bigint): number => 4_000_000_000_000 + Number(id % 1000n);
