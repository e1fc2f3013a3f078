// The one place that imports mmap-io. Its typings say `export default`, but at
// runtime the CommonJS module object itself is the API, so we go through
// createRequire and re-export a typed facade.
import { createRequire } from "node:module";

interface MmapApi {
  map(size: number, protection: number, flags: number, fd: number, offset?: number, advise?: number): Buffer;
  advise(buffer: Buffer, offset: number, length: number, advise: number): void;
  readonly PROT_READ: number;
  readonly PROT_WRITE: number;
  readonly MAP_SHARED: number;
  readonly MADV_DONTNEED: number;
  readonly MADV_SEQUENTIAL: number;
  readonly PAGESIZE: number;
}

const mmap = createRequire(import.meta.url)("mmap-io") as MmapApi;

export const PAGE_BYTES = mmap.PAGESIZE;

/** Maps a whole file read-write and shared (writes land in the page cache). */
export function mapShared(fd: number, bytes: number): Buffer {
  return mmap.map(bytes, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_SHARED, fd, 0);
}

/**
 * Drops the pages of [from, to) (page-aligned inward) from this process's
 * mapping. For a shared file mapping the data stays in the page cache (dirty
 * pages included), so this only bounds RSS; it never loses writes.
 */
export function dropPages(buf: Buffer, from: number, to: number): void {
  const start = Math.ceil(from / PAGE_BYTES) * PAGE_BYTES;
  const end = Math.min(buf.length, to) - (Math.min(buf.length, to) % PAGE_BYTES);
  if (end > start) mmap.advise(buf, start, end - start, mmap.MADV_DONTNEED);
}
