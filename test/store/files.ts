// Helpers that reach into a data directory, for tests that damage it.
import * as fs from "node:fs";
import { join } from "node:path";
import { align8, checkRecord } from "../../src/store/record.js";

const HEADER = 64;

/** Segment files of one log ("msg", "delay", "journal") of every queue, sorted. */
export function segmentFiles(dataDir: string, log: "msg" | "delay" | "journal", kind = "main"): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".seg") && dir.endsWith(`/${kind}/${log}`)) out.push(p);
    }
  };
  walk(dataDir);
  return out.sort();
}

export function allFiles(dataDir: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk(dataDir);
  return out.sort();
}

/** Offsets and lengths of the valid records of a segment file. */
export function recordOffsets(file: string): { off: number; length: number }[] {
  const buf = fs.readFileSync(file);
  const out: { off: number; length: number }[] = [];
  for (let off = HEADER; off + 48 <= buf.length; ) {
    const r = checkRecord(buf, off, buf.length);
    if (r <= 0) break;
    out.push({ off, length: r });
    off += align8(r);
  }
  return out;
}

export function patch(file: string, offset: number, bytes: Buffer): void {
  const fd = fs.openSync(file, "r+");
  try {
    fs.writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    fs.closeSync(fd);
  }
}

export function flipByte(file: string, offset: number): void {
  const fd = fs.openSync(file, "r+");
  try {
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, offset);
    b[0] = b[0]! ^ 0x5a;
    fs.writeSync(fd, b, 0, 1, offset);
  } finally {
    fs.closeSync(fd);
  }
}
