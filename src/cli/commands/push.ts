// push: one message from an argument, or from stdin (whole, or one per line,
// streamed: each line is pushed as it arrives).
import { createInterface } from "node:readline";
import type { Command } from "commander";
import type { Priority, PushResult } from "../../client/index.js";
import type { Context } from "../context.js";
import { CliError } from "../context.js";
import { durationHelp, parseDuration } from "../format.js";

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export function register(program: Command, ctx: () => Context): void {
  program
    .command("push")
    .description("push a message (the body argument, or stdin when omitted or '-')")
    .argument("<topic>")
    .argument("[body]", "message body; read from stdin when omitted or '-'")
    .option("-r, --route-key <key>", "route key (empty: the topic's default queue)", "")
    .option("-d, --delay <duration>", "deliver after this delay, with its unit: 500ms, 10s, 5m", "0")
    .option("--ttl <duration>", "discard it if not delivered within this time from now, e.g. 30s, 5m (0: the topic's default)", "0")
    .option("-p, --priority <n>", "delivery priority 0..9, higher delivered first (default: the topic's default_priority)")
    .option("-l, --lines", "with stdin: push each non-empty line as its own message")
    .option(
      "-k, --key <key>",
      "idempotency key: a push the node saw with this key within the topic's dedup window is not stored again (with --lines, line n uses <key>:n)",
    )
    .addHelpText("after", `\n${durationHelp}`)
    .action(async (topic: string, body: string | undefined, o: { routeKey: string; delay: string; ttl: string; priority?: string; lines?: boolean; key?: string }) => {
      const c = ctx();
      const priority = o.priority === undefined ? undefined : parsePriority("--priority", o.priority);
      const delayMs = parseDuration("--delay", o.delay);
      const ttlMs = parseDuration("--ttl", o.ttl);
      const keyOf = (i: number): string | undefined => (o.key === undefined || o.key === "" ? undefined : o.lines ? `${o.key}:${i + 1}` : o.key);
      const print = (r: PushResult, i: number) => {
        const key = keyOf(i);
        c.out(`${r.id} [${r.node}]${r.duplicate ? " duplicate (not stored again)" : ""}`, {
          id: r.id.toString(),
          node: r.node,
          topic,
          route_key: o.routeKey,
          delay_ms: delayMs,
          ttl_ms: ttlMs,
          ...(priority !== undefined && { priority }),
          ...(key !== undefined && { idempotency_key: key }),
          duplicate: r.duplicate,
        });
      };
      const fromStdin = body === undefined || body === "-";
      if (fromStdin && process.stdin.isTTY) throw new CliError("no body given: pass it as an argument or pipe it on stdin");
      const client = await c.connect();
      const pushOne = (b: Buffer, i: number) => client.push(topic, b, { routeKey: o.routeKey, delayMs, ttlMs, idempotencyKey: keyOf(i), priority });
      if (!fromStdin) print(await pushOne(Buffer.from(body), 0), 0);
      else if (!o.lines) print(await pushOne(await readStdin(), 0), 0);
      else await pushLines(pushOne, print);
    });
}

/** An integer 0..9, refused here rather than by the node so the message names the flag. */
export function parsePriority(flag: string, text: string): Priority {
  if (!/^\d$/.test(text.trim())) throw new CliError(`${flag} must be an integer 0..9 (higher delivered first), got ${JSON.stringify(text)}`);
  return Number(text.trim()) as Priority;
}

/**
 * Pushes each non-empty stdin line as it arrives: up to `window` pushes in
 * flight (they stream through each node's push stream); reading waits while
 * the window is full, so a fast producer is held back instead of buffered.
 * Results print in input order as soon as each one and those before it are done.
 */
async function pushLines(pushOne: (b: Buffer, i: number) => Promise<PushResult>, print: (r: PushResult, i: number) => void, window = 64): Promise<void> {
  const pending: { i: number; result?: PushResult; error?: unknown }[] = [];
  let failure: { error: unknown } | undefined;
  let slotFreed: (() => void) | undefined;
  const drain = () => {
    while (pending[0] && (pending[0].result || pending[0].error !== undefined)) {
      const head = pending.shift()!;
      if (head.error !== undefined) failure ??= { error: head.error };
      else if (!failure) print(head.result!, head.i);
    }
    slotFreed?.();
  };
  let inFlight = 0;
  let n = 0;
  // readline's iterator pauses stdin when lines pile up unread, so a full window holds the producer back.
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (failure) break;
    if (!line.trim()) continue;
    const entry: (typeof pending)[number] = { i: n++ };
    pending.push(entry);
    inFlight++;
    pushOne(Buffer.from(line), entry.i).then(
      (r) => ((entry.result = r), inFlight--, drain()),
      (err: unknown) => ((entry.error = err ?? new Error("push failed")), inFlight--, drain()),
    );
    while (inFlight >= window && !failure) await new Promise<void>((r) => (slotFreed = r));
  }
  lines.close();
  while (inFlight > 0) await new Promise<void>((r) => (slotFreed = r));
  if (failure) throw failure.error;
}
