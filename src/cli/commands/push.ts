// push: one message from an argument, or from stdin (whole, or one per line).
import type { Command } from "commander";
import type { Context } from "../context.js";
import { CliError } from "../context.js";
import { parseDurationMs } from "../format.js";

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
    .option("-d, --delay <duration>", "deliver after this delay, e.g. 500ms, 10s, 5m", "0")
    .option("--ttl <duration>", "discard it if not delivered within this time from now, e.g. 30s, 5m (0: the topic's default)", "0")
    .option("-l, --lines", "with stdin: push each non-empty line as its own message")
    .option(
      "-k, --key <key>",
      "idempotency key: a push the node saw with this key within the topic's dedup window is not stored again (with --lines, line n uses <key>:n)",
    )
    .action(async (topic: string, body: string | undefined, o: { routeKey: string; delay: string; ttl: string; lines?: boolean; key?: string }) => {
      const c = ctx();
      let delayMs: number;
      let ttlMs: number;
      try {
        delayMs = parseDurationMs(o.delay);
        ttlMs = parseDurationMs(o.ttl);
      } catch (e) {
        throw new CliError((e as Error).message);
      }
      const bodies: Buffer[] = [];
      if (body !== undefined && body !== "-") bodies.push(Buffer.from(body));
      else {
        if (process.stdin.isTTY) throw new CliError("no body given: pass it as an argument or pipe it on stdin");
        const data = await readStdin();
        if (o.lines) {
          for (const line of data.toString("utf8").split("\n")) if (line.trim()) bodies.push(Buffer.from(line.replace(/\r$/, "")));
        } else bodies.push(data);
      }
      const client = await c.connect();
      // Up to 64 pushes in flight: lines stream through each node's push stream.
      let next = 0;
      const results: { id: bigint; node: string; duplicate: boolean }[] = new Array(bodies.length);
      const keyOf = (i: number): string | undefined => (o.key === undefined || o.key === "" ? undefined : o.lines ? `${o.key}:${i + 1}` : o.key);
      await Promise.all(
        Array.from({ length: Math.min(64, bodies.length) }, async () => {
          while (next < bodies.length) {
            const i = next++;
            results[i] = await client.push(topic, bodies[i]!, { routeKey: o.routeKey, delayMs, ttlMs, idempotencyKey: keyOf(i) });
          }
        }),
      );
      results.forEach((r, i) => {
        const key = keyOf(i);
        c.out(`${r.id} [${r.node}]${r.duplicate ? " duplicate (not stored again)" : ""}`, {
          id: r.id.toString(),
          node: r.node,
          topic,
          route_key: o.routeKey,
          delay_ms: delayMs,
          ttl_ms: ttlMs,
          ...(key !== undefined && { idempotency_key: key }),
          duplicate: r.duplicate,
        });
      });
    });
}
