/** The body crash-child.ts gives message `id` (length and bytes derive from the id). */
export function bodyFor(id: bigint): Buffer {
  const n = Number(id % 300n);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (Number(id & 0xffn) + i * 7) & 0xff;
  return b;
}
