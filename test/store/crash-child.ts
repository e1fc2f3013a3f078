// Child process of crash.test.ts: appends, reserves, acks and releases under
// load, and reports on stdout every append and ack once commit() resolved.
// The parent kills it with SIGKILL at a random moment.
//   node <crash-child.ts bundled by crash.test.ts> <dataDir> <fsync> <firstId> <seed>
import * as fs from "node:fs";
import type { NewMessage } from "../../src/broker/storage.js";
import { type FsyncPolicy, openStorage } from "../../src/store/index.js";
import { bodyFor, expiryKind, farExpiry } from "./crash-body.js";

const [dataDir, policy, firstId, seedArg] = process.argv.slice(2);
let seed = Number(seedArg);
const rand = (n: number): number => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
};


async function main(): Promise<void> {
  const store = openStorage({ dataDir: dataDir!, segmentBytes: 64 << 10, fsync: policy as FsyncPolicy });
  const q = store.openQueue("crash", "q", "main");
  const dead = store.openQueue("crash", "q", "dead");
  // Written straight to fd 1: process.stdout buffers writes to a socket in
  // the process, and a kill -9 would lose lines the test relies on.
  const say = (line: string): void => {
    const buf = Buffer.from(`${line}\n`);
    for (let off = 0; off < buf.length; ) {
      try {
        off += fs.writeSync(1, buf, off);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
      }
    }
  };
  say("READY");
  let next = BigInt(firstId!);
  for (let round = 0; ; round++) {
    const batch: NewMessage[] = [];
    const n = 1 + rand(40);
    for (let i = 0; i < n; i++) {
      const id = next++;
      const kind = expiryKind(id);
      batch.push({
        id,
        routeKey: `rk.${id % 7n}`,
        body: bodyFor(id),
        createdAtMs: Date.now(),
        deliverAtMs: rand(10) === 0 ? Date.now() + rand(300) : 0,
        retry: 0,
        expiresAtMs: kind === "far" ? farExpiry(id) : kind === "short" ? Date.now() + rand(200) : 0,
      });
    }
    const delayed = batch.filter((m) => m.deliverAtMs > 0);
    if (delayed.length > 0) say(`D ${delayed.map((m) => m.id).join(",")}`);
    q.append(batch);
    await store.commit();
    say(`A ${batch.map((m) => m.id).join(",")}`);

    // Messages redelivered more than twice go to the dead-letter log, as the
    // broker does it: append there, commit, then bury. The others back off
    // (10 ms, then 20 ms) before they are ready again, as a topic's retry
    // backoff does it.
    const { retriesUsedUp: expired } = q.processDue(Date.now(), 2, (retry) => 10 * retry);
    if (expired.length > 0) {
      dead.append(expired.map((m) => ({ ...m, deliverAtMs: 0, expiresAtMs: 0 })));
      await store.commit();
      q.bury(expired.map((m) => m.id));
    }
    const got = q.reserve(rand(60), 1 << 30, Date.now() + 20 + rand(200));
    const acked: bigint[] = [];
    const toAck: bigint[] = [];
    for (const m of got) {
      if (!m.body.equals(bodyFor(m.id))) throw new Error(`body of ${m.id} damaged`);
      const r = rand(10);
      if (r < 7) toAck.push(m.id);
      else if (r === 7) q.release(m.id, Date.now() + rand(100));
      else if (r === 8) q.touch(m.id, Date.now() + 500);
    }
    // Announced first: a kill between ack() and the report may legitimately
    // take these messages away without the parent hearing of the ack.
    if (toAck.length > 0) say(`P ${toAck.join(",")}`);
    for (const id of toAck) if (q.ack(id)) acked.push(id);
    await store.commit();
    if (acked.length > 0) say(`K ${acked.join(",")}`);
    if (round % 20 === 0) await new Promise((r) => setTimeout(r, 1));
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
