import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NewMessage, StoredMessage } from "../../src/broker/storage.js";

const created: string[] = [];
process.on("exit", () => {
  for (const dir of created) fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh directory under the OS temp dir, removed when the test process exits. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(join(tmpdir(), `gmq-${prefix}-`));
  created.push(dir, `${dir}-verify`, `${dir}-pristine`);
  return dir;
}

let nextId = 1n;
/** A message with a unique id and a body that names it. */
export function msg(over: Partial<NewMessage> = {}): NewMessage {
  const id = over.id ?? nextId++;
  return {
    id,
    routeKey: "rk",
    body: Buffer.from(`body-${id}`),
    createdAtMs: 1_700_000_000_000,
    deliverAtMs: 0,
    retry: 0,
    ...over,
  };
}

export function msgs(n: number, over: Partial<NewMessage> = {}): NewMessage[] {
  return Array.from({ length: n }, () => msg(over));
}

export const ids = (list: readonly { id: bigint }[]): bigint[] => list.map((m) => m.id);

export function bodyOf(m: StoredMessage): string {
  return m.body.toString();
}

export interface Warning {
  obj: Record<string, unknown>;
  msg: string;
}

export function recordingLogger(): { warn(obj: object, msg: string): void; info(obj: object, msg: string): void; warnings: Warning[] } {
  const warnings: Warning[] = [];
  return {
    warnings,
    warn(obj, msg) {
      warnings.push({ obj: obj as Record<string, unknown>, msg });
    },
    info() {},
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
