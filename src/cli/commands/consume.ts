// consume: print messages as they arrive from every node, acking each after printing.
import type { Command } from "commander";
import type { Context } from "../context.js";
import { messageData, messageLine } from "../format.js";

export function register(program: Command, ctx: () => Context): void {
  program
    .command("consume")
    .description("consume a queue from every node, printing messages as they arrive (Ctrl-C stops)")
    .argument("<topic>")
    .argument("<bind-key>")
    .option("-m, --max-in-flight <n>", "credit per node", "100")
    .option("-c, --count <n>", "stop after this many messages")
    .option("--idle-exit-ms <ms>", "stop when no message came for this long")
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
      const idle = o.idleExitMs ? Number(o.idleExitMs) : 0;
      const timer = idle > 0 ? setInterval(() => Date.now() - lastAt > idle && stop(), Math.min(idle, 200)) : undefined;
      await stopped;
      clearInterval(timer);
      await consumer.close();
    });
}
