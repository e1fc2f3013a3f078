// pop (one message, optionally long-polling) and ack.
import type { Command } from "commander";
import { CliError, type Context } from "../context.js";
import { messageData, messageLine, parseDuration } from "../format.js";

function parseId(s: string): bigint {
  if (!/^\d+$/.test(s)) throw new CliError(`message id must be a decimal number, got ${JSON.stringify(s)}`);
  return BigInt(s);
}

export function register(program: Command, ctx: () => Context): void {
  program
    .command("pop")
    .description("take one ready message from a queue (any node); exit code 3 when none")
    .argument("<topic>")
    .argument("<bind-key>")
    .option("-w, --wait-ms <ms>", "wait up to this long for a message; ms, or e.g. 5s", "0")
    .option("-a, --ack", "ack it at once")
    .action(async (topic: string, bindKey: string, o: { waitMs: string; ack?: boolean }) => {
      const c = ctx();
      const client = await c.connect();
      const m = await client.pop(topic, bindKey, { waitMs: parseDuration("--wait-ms", o.waitMs) });
      if (!m) {
        c.out("no message ready", { message: null });
        process.exitCode = 3;
        return;
      }
      if (o.ack) await client.ack(m);
      c.out(messageLine(m), { ...messageData(m), acked: Boolean(o.ack) });
    });

  program
    .command("ack")
    .description("acknowledge an in-flight message")
    .argument("<topic>")
    .argument("<bind-key>")
    .argument("<id>")
    .option("-n, --node <key>", "the node it came from (default: ask every node)")
    .action(async (topic: string, bindKey: string, id: string, o: { node?: string }) => {
      const c = ctx();
      await (await c.connect()).ack({ topic, bindKey, id: parseId(id), node: o.node });
      c.out(`acked ${id}`, { id, acked: true });
    });

  program
    .command("nack")
    .description("give an in-flight message back (ready again now or after --delay-ms)")
    .argument("<topic>")
    .argument("<bind-key>")
    .argument("<id>")
    .option("-n, --node <key>", "the node it came from (default: ask every node)")
    .option("--delay-ms <ms>", "wait before it is ready again; ms, or e.g. 10s", "0")
    .action(async (topic: string, bindKey: string, id: string, o: { node?: string; delayMs: string }) => {
      const c = ctx();
      await (await c.connect()).nack({ topic, bindKey, id: parseId(id), node: o.node }, parseDuration("--delay-ms", o.delayMs));
      c.out(`nacked ${id}`, { id, nacked: true });
    });
}
