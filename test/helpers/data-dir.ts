// Reading a node's data directory from tests that damage it on purpose.
import * as fs from "node:fs";
import { join } from "node:path";

/** The directory of topic's queue "q", found by its queue.json (whatever the name encoding). */
export function queueDir(dataDir: string, topic: string): string {
  const queues = join(dataDir, "queues");
  for (const t of fs.readdirSync(queues)) {
    const dir = join(queues, t, fs.readdirSync(join(queues, t))[0] ?? "");
    try {
      if ((JSON.parse(fs.readFileSync(join(dir, "queue.json"), "utf8")) as { topic: string }).topic === topic) return dir;
    } catch {
      // not this one
    }
  }
  throw new Error(`no queue directory for ${topic}`);
}
