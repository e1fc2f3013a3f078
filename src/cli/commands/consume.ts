// consume: print messages as they arrive from every node, acking each after
// printing. Transient stream errors are retried (said once per node and kind);
// an error retrying cannot fix (no grant, bad token, unknown topic or queue)
// ends the command with that error: one line, exit 1.
import type { Command } from "commander";
import type { Context } from "../context.js";
import { messageData, messageLine, parseDuration } from "../format.js";

export function register(program: Command, ctx: () => Context): void {
  program
    .command("consume")
    .description("consume a queue from every node, printing messages as they arrive (Ctrl-C stops)")
    .argument("<topic>")
    .argument("<bind-key>")
    .option("-m, --max-in-flight <n>", "credit per node", "100")
    .option("-c, --count <n>", "stop after this many messages")
    .option("--idle-exit-ms <ms>", "stop when no message came for this long; ms, or e.g. 5s")
    .action(async (topic: string, bindKey: string, o: { maxInFlight: string; count?: string; idleExitMs?: string }) => {
      const c = ctx();
      const client = await c.connect();
      const limit = o.count ? Number(o.count) : Infinity;
      let seen = 0;
      let lastAt = Date.now();
      const lastError = new Map<string, string>();
      let stop!: () => void;
      const stopped = new Promise<void>((r) => (stop = r));
      const consumer = client.consume(
        topic,
        bindKey,
        (m) => {
          if (seen >= limit) throw new Error("limit reached"); // nacked: another consumer gets it
          seen++;
          lastAt = Date.now();
          c.out(messageLine(m), messageData(m));
          if (seen >= limit) stop();
        },
        {
          maxInFlight: Math.min(Number(o.maxInFlight), limit),
          onStreamError: (err, node) => {
            // Say it once per node and kind of failure, not on every retry.
            const said = `${err.code}:${err.message}`;
            if (lastError.get(node) === said) return;
            lastError.set(node, said);
            process.stderr.write(`gmq: ${node}: ${err.codeName}${err.reason ? ` (${err.reason})` : ""}: ${err.message} (retrying)\n`);
          },
        },
      );
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      const idle = o.idleExitMs ? parseDuration("--idle-exit-ms", o.idleExitMs) : 0;
      const timer = idle > 0 ? setInterval(() => Date.now() - lastAt > idle && stop(), Math.min(idle, 200)) : undefined;
      try {
        await Promise.race([stopped, consumer.done]);
      } finally {
        clearInterval(timer);
        await consumer.close();
      }
      await consumer.done; // throws the refusal when that is what ended it
    });
}
