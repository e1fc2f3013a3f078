// dead (list or pop dead letters) and redrive.
import type { Command } from "commander";
import type { Context } from "../context.js";
import { messageData, messageLine } from "../format.js";

export function register(program: Command, ctx: () => Context): void {
  program
    .command("dead")
    .description("list a queue's dead letters on every node, or take one with --pop")
    .argument("<topic>")
    .argument("<bind-key>")
    .option("-p, --pop", "take (and remove) the oldest dead letter instead; exit code 3 when none")
    .option("--limit <n>", "list at most this many per node", "100")
    .action(async (topic: string, bindKey: string, o: { pop?: boolean; limit: string }) => {
      const c = ctx();
      const client = await c.connect();
      if (o.pop) {
        const m = await client.popDead(topic, bindKey);
        if (!m) {
          c.out("no dead letter", { message: null });
          process.exitCode = 3;
        } else c.out(messageLine(m), messageData(m));
        return;
      }
      const list = await client.listDead(topic, bindKey, Number(o.limit));
      for (const m of list) c.out(messageLine(m), messageData(m));
      if (!c.json) process.stderr.write(`${list.length} dead letter(s)\n`);
    });

  program
    .command("redrive")
    .description("move dead letters back into their queue on every node")
    .argument("<topic>")
    .argument("<bind-key>")
    .option("--limit <n>", "move at most this many per node (0: all)", "0")
    .action(async (topic: string, bindKey: string, o: { limit: string }) => {
      const c = ctx();
      const moved = await (await c.connect()).redrive(topic, bindKey, Number(o.limit));
      c.out(`moved ${moved} dead letter(s) back to ${topic}_${bindKey}`, { topic, bind_key: bindKey, moved });
    });
}
