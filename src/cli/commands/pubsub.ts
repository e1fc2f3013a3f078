// publish and subscribe (pub/sub channels: ephemeral fan-out).
import type { Command } from "commander";
import type { Context } from "../context.js";

export function register(program: Command, ctx: () => Context): void {
  program
    .command("publish")
    .description("publish to a channel; prints how many subscribers received it")
    .argument("<channel>")
    .argument("<body>")
    .action(async (channel: string, body: string) => {
      const c = ctx();
      const r = await (await c.connect()).publish(channel, body);
      c.out(`${r.receivers} receiver(s) [${r.node}]`, { channel, receivers: r.receivers, node: r.node });
    });

  program
    .command("subscribe")
    .description("print messages published to the channels, from every node (Ctrl-C stops)")
    .argument("<channels...>")
    .option("-c, --count <n>", "stop after this many messages")
    .action(async (channels: string[], o: { count?: string }) => {
      const c = ctx();
      const client = await c.connect();
      const limit = o.count ? Number(o.count) : Infinity;
      let seen = 0;
      let stop!: () => void;
      const stopped = new Promise<void>((r) => (stop = r));
      const sub = client.subscribe(channels, (p) => {
        if (seen >= limit) return;
        seen++;
        c.out(`${p.channel} [${p.node}] ${p.body.toString("utf8")}`, {
          channel: p.channel,
          body: p.body.toString("utf8"),
          published_at_ms: Number(p.publishedAtMs),
          node: p.node,
        });
        if (seen >= limit) stop();
      });
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      await stopped;
      sub.close();
    });
}
