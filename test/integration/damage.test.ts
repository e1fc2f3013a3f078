// The node-level damage suite: a real node process started (twice) on copies
// of one data dir, each damaged in a scripted way or by random byte flips over
// metadata, queue.json, checkpoints, message segments and journals. The node
// must start (or stop with one line on stderr naming the file), never crash,
// never deliver one message from two queues, and log and count every loss.
//
// CI runs the scripted scenarios and GMQ_DAMAGE_RANDOM (default 8) random
// ones from GMQ_DAMAGE_SEED (default 1); set them higher for a longer run.
import { expect } from "chai";
import * as fs from "node:fs";
import { join } from "node:path";
import type { PopResponse } from "../../src/gen/gmq/v1/broker.js";
import { connect, drainQueue, grpc, type Client } from "../helpers/grpc-client.js";
import { prng } from "../../scripts/prng.js";
import { queueDir } from "../helpers/data-dir.js";
import { ensureBuilt, startNodeProcess, tempDataDir, type NodeProcess } from "../helpers/node-process.js";

const RANDOM_SCENARIOS = Number(process.env.GMQ_DAMAGE_RANDOM ?? 8);
const SEED = Number(process.env.GMQ_DAMAGE_SEED ?? 1);
const ARGS = ["--segment-bytes", "65536", "--max-body-bytes", "4096", "--log-level", "warn"];
const TOPICS = ["t1", "m1", "orders"];
const PUSHED_PER_QUEUE = 120;
const ACKED_PER_QUEUE = 30;


function files(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).map((f) => join(dir, f)).filter((f) => fs.statSync(f).isFile() && !f.endsWith(".tmp"));
}

const segsOf = (dir: string) => fs.readdirSync(dir).filter((f) => f.endsWith(".seg")).sort().map((f) => join(dir, f));

interface Scenario {
  name: string;
  damage(dataDir: string): void;
}

const scripted: Scenario[] = [
  {
    name: "queue.json of t1 names m1",
    damage: (d) => fs.writeFileSync(join(queueDir(d, "t1"), "queue.json"), JSON.stringify({ topic: "m1", bindKey: "q" })),
  },
  {
    name: "queue.json of t1 names a topic that does not exist",
    damage: (d) => fs.writeFileSync(join(queueDir(d, "t1"), "queue.json"), JSON.stringify({ topic: "ghost", bindKey: "q" })),
  },
  { name: "stray directory in meta/", damage: (d) => fs.mkdirSync(join(d, "meta", "stray")) },
  {
    name: "stray directory in meta/ named like a metadata file",
    damage: (d) => fs.mkdirSync(join(d, "meta", `k${Buffer.from("topic.stray").toString("base64url")}`)),
  },
  { name: "stray file among the topic directories", damage: (d) => fs.writeFileSync(join(d, "queues", "stray"), "x") },
  {
    name: "first sealed message segment zeroed",
    damage: (d) => {
      const seg = segsOf(join(queueDir(d, "m1"), "main", "msg"))[0]!;
      fs.writeFileSync(seg, Buffer.alloc(fs.statSync(seg).size));
    },
  },
  {
    name: "a middle message segment emptied",
    damage: (d) => fs.truncateSync(segsOf(join(queueDir(d, "orders"), "main", "msg"))[2]!, 0),
  },
  { name: "checkpoint garbled", damage: (d) => fs.writeFileSync(join(queueDir(d, "t1"), "main", "state.ckpt"), Buffer.alloc(64, 0xab)) },
  { name: "a topic's metadata emptied", damage: (d) => fs.writeFileSync(join(d, "meta", fs.readdirSync(join(d, "meta")).sort()[0]!), "") },
];

function randomScenario(i: number): Scenario {
  const rnd = prng(SEED * 1_000_003 + i);
  const kinds: [string, (f: string) => boolean][] = [
    ["meta", (f) => f.includes("/meta/")],
    ["queue.json", (f) => f.endsWith("queue.json")],
    ["checkpoint", (f) => f.endsWith("state.ckpt")],
    ["message segment", (f) => f.includes("/msg/")],
    ["journal", (f) => f.includes("/journal/")],
  ];
  const [kind, match] = kinds[Math.floor(rnd() * kinds.length)]!;
  const flips = 1 + Math.floor(rnd() * 8);
  const inHeader = rnd() < 0.5;
  let described = "";
  return {
    get name() {
      return `random #${i} (seed ${SEED}): ${flips} byte flips in a ${kind}${inHeader ? " near its start" : ""}${described}`;
    },
    damage(d) {
      const candidates = files(d).filter(match);
      const file = candidates[Math.floor(rnd() * candidates.length)]!;
      const buf = fs.readFileSync(file);
      if (buf.length === 0) return;
      const span = inHeader ? Math.min(buf.length, 96) : buf.length;
      for (let k = 0; k < flips; k++) {
        const at = Math.floor(rnd() * span);
        buf[at] = buf[at]! ^ (1 + Math.floor(rnd() * 255));
      }
      fs.writeFileSync(file, buf);
      described = ` (${file.slice(d.length + 1)})`;
    },
  };
}

async function storageCounters(node: NodeProcess): Promise<number> {
  const text = await (await fetch(`http://${node.httpAddr}/metrics`)).text();
  let n = 0;
  for (const name of [
    "gmq_storage_recovered_truncations",
    "gmq_storage_quarantined_segments",
    "gmq_storage_corrupt_records_skipped_total",
    "gmq_storage_messages_lost_total",
    "gmq_storage_data_dir_entries_skipped_total",
  ]) {
    const line = text.split("\n").find((l) => l.startsWith(`${name} `));
    n += Number(line?.slice(name.length + 1) ?? 0);
  }
  return n;
}

describe("damage suite (a real node on damaged data dirs)", function () {
  this.timeout(600_000);
  let base: string;
  /** Per topic: the ids still ready in the base data dir. */
  const expected = new Map<string, bigint[]>();
  /** Per topic: every id pushed to it (acked ones may come back after journal damage). */
  const pushedTo = new Map<string, Set<string>>();
  const outcomes = { started: 0, refusedWithOneLine: 0, withLoss: 0 };

  before(async () => {
    ensureBuilt();
    base = tempDataDir();
    const node = await startNodeProcess({ dataDir: base, built: true, args: ARGS });
    const c = connect(node.grpcAddr);
    for (const topic of TOPICS) {
      await c.call("declareQueue", { topic, bindKey: "q" });
      const ids: bigint[] = [];
      for (let i = 0; i < PUSHED_PER_QUEUE; i += 20) {
        const messages = Array.from({ length: 20 }, (_, j) => ({ routeKey: "q", body: Buffer.alloc(1500, (i + j) % 251) }));
        ids.push(...(await c.call<object, { ids: bigint[] }>("pushBatch", { topic, messages })).ids);
      }
      for (let i = 0; i < ACKED_PER_QUEUE; i++) {
        const m = (await c.call<object, PopResponse>("pop", { topic, bindKey: "q" })).message!;
        await c.call("ack", { topic, bindKey: "q", id: m.id });
      }
      expected.set(topic, ids.slice(ACKED_PER_QUEUE));
      pushedTo.set(topic, new Set(ids.map(String)));
    }
    c.close();
    expect(await node.stop()).to.equal(0);
  });

  after(() => {
    fs.rmSync(base, { recursive: true, force: true });
    console.log(`      damage suite: ${scripted.length + RANDOM_SCENARIOS} scenarios; started ${outcomes.started}, refused with one line ${outcomes.refusedWithOneLine}, with reported loss ${outcomes.withLoss}`);
  });

  const scenarios = [...scripted, ...Array.from({ length: RANDOM_SCENARIOS }, (_, i) => randomScenario(i))];
  for (const [i, scenario] of scenarios.entries()) {
    it(`starts, delivers no message from two queues, and reports every loss: scenario ${i}`, async function () {
      const dataDir = tempDataDir();
      try {
        fs.cpSync(base, dataDir, { recursive: true });
        scenario.damage(dataDir);
        this.test!.title += ` (${scenario.name})`;
        let node: NodeProcess;
        try {
          node = await startNodeProcess({ dataDir, built: true, args: ARGS });
        } catch (err) {
          // Refusing to start is allowed with one clear line naming the file.
          const stderr = /stderr: ([\s\S]*?); logs:/.exec(String(err))?.[1] ?? "";
          expect(stderr.trim().split("\n"), String(err)).to.have.length(1);
          expect(stderr, String(err)).to.include(dataDir);
          outcomes.refusedWithOneLine++;
          return;
        }
        outcomes.started++;
        const c = connect(node.grpcAddr);
        const seen = new Map<bigint, string>();
        let missing = 0;
        try {
          const topics = (await c.call<object, { topics: { topic: string }[] }>("listTopics", {})).topics.map((t) => t.topic);
          expect(topics.filter((t) => !TOPICS.includes(t)), "ghost topics").to.deep.equal([]);
          for (const topic of TOPICS) {
            const want = new Set(expected.get(topic)!.map(String));
            const got = topics.includes(topic) ? await drainQueue(c, topic).catch((err) => {
              if ((err as grpc.ServiceError).code === grpc.status.NOT_FOUND) return [];
              throw err;
            }) : [];
            for (const id of got) {
              expect(seen.get(id), `message ${id} delivered from ${seen.get(id)} and ${topic}`).to.equal(undefined);
              seen.set(id, topic);
            }
            // An acked message may come back after journal damage; a message of another queue never.
            for (const id of got) expect(pushedTo.get(topic)!.has(String(id)), `message ${id} is not ${topic}'s`).to.equal(true);
            missing += [...want].filter((id) => !got.some((g) => String(g) === id)).length;
          }
          if (missing > 0) {
            outcomes.withLoss++;
            expect(node.logs.filter((l) => l.includes('"level":"warn"') || l.includes('"level":40')), `${missing} messages lost without a warning`).to.not.deep.equal([]);
            expect(await storageCounters(node), `${missing} messages lost without a counter`).to.be.greaterThan(0);
          }
        } finally {
          c.close();
        }
        expect(await node.stop(), "exit code after a graceful stop").to.equal(0);
        // No crash loop: it starts again on what it left.
        const again = await startNodeProcess({ dataDir, built: true, args: ARGS });
        expect(await again.stop()).to.equal(0);
      } finally {
        fs.rmSync(dataDir, { recursive: true, force: true });
      }
    });
  }
});
