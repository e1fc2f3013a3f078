// A data dir written by the node before the case-safe name encoding (commit
// 8d4ffa2, test/fixtures/data-dir-v1) opens with every message intact, its
// directories renamed so no two names differ only in case.
import { expect } from "chai";
import * as fs from "node:fs";
import { join } from "node:path";
import type { Message, PopResponse } from "../../src/gen/gmq/v1/broker.js";
import { encodeName } from "../../src/store/names.js";
import { FIXTURE_QUEUES } from "../fixtures/data-dir-v1-contents.js";
import { connect, grpc } from "../helpers/grpc-client.js";
import { startNodeProcess, tempDataDir } from "../helpers/node-process.js";

const FIXTURE = join(import.meta.dirname, "../fixtures/data-dir-v1");

/** Every path under dir, relative to it. */
function walk(dir: string, prefix = ""): string[] {
  return fs.readdirSync(dir).flatMap((f) => {
    const rel = prefix === "" ? f : `${prefix}/${f}`;
    return fs.statSync(join(dir, f)).isDirectory() ? [rel, ...walk(join(dir, f), rel)] : [rel];
  });
}

describe("data dirs written before the case-safe name encoding", function () {
  this.timeout(60_000);

  it("are migrated at open with every message intact and no two names differing only in case", async () => {
    const dataDir = tempDataDir();
    fs.cpSync(FIXTURE, dataDir, { recursive: true });
    for (let start = 0; start < 2; start++) {
      const node = await startNodeProcess({ dataDir, args: ["--segment-bytes", "65536", "--max-body-bytes", "4096"] });
      const c = connect(node.grpcAddr);
      try {
        const topics = (await c.call<object, { topics: { topic: string; config: { msgTtr: number } }[] }>("listTopics", {})).topics;
        expect(topics.map((t) => t.topic).sort()).to.deep.equal(FIXTURE_QUEUES.map((q) => q.topic).sort());
        for (const t of topics) expect(t.config.msgTtr).to.equal(30_000);
        for (const q of FIXTURE_QUEUES) {
          expect(await c.call("listQueues", { topic: q.topic })).to.deep.equal({ bindKeys: [q.bindKey] });
          const stat = await c.call<object, { stat: { queues: { ready: bigint }[] } }>("getTopicStat", { topic: q.topic });
          expect(Number(stat.stat.queues[0]!.ready)).to.equal(q.bodies.length);
        }
        if (start === 1) {
          for (const q of FIXTURE_QUEUES) {
            const got: string[] = [];
            for (;;) {
              let m: Message;
              try {
                m = (await c.call<object, PopResponse>("pop", { topic: q.topic, bindKey: q.bindKey })).message!;
              } catch (err) {
                if ((err as grpc.ServiceError).code === grpc.status.NOT_FOUND) break;
                throw err;
              }
              got.push(Buffer.from(m.body).toString());
              await c.call("ack", { topic: q.topic, bindKey: q.bindKey, id: m.id });
            }
            expect(got).to.deep.equal(q.bodies);
          }
        }
      } finally {
        c.close();
        expect(await node.stop()).to.equal(0);
      }
      const paths = walk(dataDir).filter((p) => !p.endsWith(".tmp"));
      const lower = new Set(paths.map((p) => p.toLowerCase()));
      expect(lower.size).to.equal(paths.length);
      for (const q of FIXTURE_QUEUES) {
        expect(fs.existsSync(join(dataDir, "queues", encodeName(q.topic), encodeName(q.bindKey), "queue.json"))).to.equal(true);
        expect(fs.existsSync(join(dataDir, "meta", encodeName(`topic.${q.topic}`)))).to.equal(true);
      }
      expect(paths.filter((p) => /(^|\/)k[A-Za-z0-9_-]+($|\/)/.test(p))).to.deep.equal([]);
    }
  });

  it("encodes names readably and distinctly under case folding", () => {
    expect(encodeName("orders.eu")).to.equal("n.orders.eu");
    expect(encodeName("aaG")).to.equal("n.aa^g");
    expect(encodeName("EU/#")).to.equal("n.^e^u%2f%23");
    expect(encodeName("x.tmp")).to.equal("n.x%2etmp");
    expect(encodeName("aaa").toLowerCase()).to.not.equal(encodeName("aaG").toLowerCase());
  });
});
