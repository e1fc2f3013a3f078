import { spawn } from "node:child_process";
import * as fs from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { build } from "esbuild";
import { openStorage } from "../../src/store/index.js";
import { bodyFor, expiryKind, farExpiry } from "./crash-body.js";
import { tempDir } from "./helpers.js";

const CHILD = fileURLToPath(new URL("./crash-child.ts", import.meta.url));
// The child and the store sources it imports, bundled by esbuild as
// scripts/build.mjs builds dist/, so each child starts as plain JavaScript:
// through tsx every one of the cycles cost ~0.6 s more CPU. Inside the
// repository (ignored as .dist-*/), so its packages resolve from node_modules.
const CHILD_DIR = join(import.meta.dirname, `../../.dist-crash-child-${process.pid}`);
const CHILD_JS = join(CHILD_DIR, "crash-child.mjs");
const CYCLES = 24;

interface Cycle {
  appended: bigint[];
  acked: bigint[];
  planned: bigint[];
  lines: string[];
  exit: string;
}

/** Runs the child until a random moment after its first acknowledged append, then SIGKILLs it. */
function runAndKill(dir: string, policy: string, firstId: bigint, seed: number, lifeMs: number): Promise<Cycle> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD_JS, dir, policy, String(firstId), String(seed)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const appended: bigint[] = [];
    const acked: bigint[] = [];
    const planned: bigint[] = [];
    const lines: string[] = [];
    let pending = "";
    let stderr = "";
    let timer: NodeJS.Timeout | undefined;
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (process.env.GMQ_CRASH_KEEP) lines.push(line);
        // The kill comes a random time after the first acknowledged append, not
        // after start-up: on a loaded machine the child may not append at all
        // in its first few hundred milliseconds, and every cycle must do work.
        if (line.startsWith("A ")) {
          appended.push(...line.slice(2).split(",").map(BigInt));
          timer ??= setTimeout(() => child.kill("SIGKILL"), lifeMs);
        }
        else if (line.startsWith("K ")) acked.push(...line.slice(2).split(",").map(BigInt));
        else if (line.startsWith("P ")) planned.push(...line.slice(2).split(",").map(BigInt));
      }
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (signal !== "SIGKILL") reject(new Error(`child exited on its own (${code}): ${stderr}`));
      else resolve({ appended, acked, planned, lines, exit: String(signal) });
    });
  });
}

describe("store crash safety (kill -9 of a real process)", function () {
  this.timeout(120_000);
  before(async () => {
    await build({ entryPoints: [CHILD], outfile: CHILD_JS, bundle: true, packages: "external", format: "esm", platform: "node", target: "node20", logLevel: "warning" });
  });
  after(() => fs.rmSync(CHILD_DIR, { recursive: true, force: true }));

  it(`keeps every acknowledged append (in the queue or its dead letters) and never resurrects an acknowledged ack over ${CYCLES} kill -9 cycles`, async () => {
    const dir = tempDir("crash");
    const appended = new Set<bigint>();
    const acked = new Set<bigint>();
    const planned = new Set<bigint>();
    const history: string[] = [];
    let deadSeen = 0;
    let seed = 4242;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const policies = ["never", "interval", "always"];
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const policy = policies[cycle % 3]!;
      const r = await runAndKill(dir, policy, BigInt(cycle + 1) * 10_000_000n, 1 + rand(1e6), 50 + rand(350));
      history.push(`cycle ${cycle} ${policy}`, ...r.lines);
      for (const id of r.appended) appended.add(id);
      for (const id of r.acked) acked.add(id);
      for (const id of r.planned) planned.add(id);

      // Verify a copy, so the check itself changes nothing the next child sees.
      const copy = `${dir}-verify`;
      fs.rmSync(copy, { recursive: true, force: true });
      fs.cpSync(dir, copy, { recursive: true });
      const store = openStorage({ dataDir: copy, segmentBytes: 64 << 10, fsync: "never" });
      // Present = still in the queue (any state) or moved to its dead letters.
      const present = new Set<bigint>();
      const main = store.openQueue("crash", "q", "main");
      for (const kind of ["main", "dead"] as const) {
        const q = store.openQueue("crash", "q", kind);
        q.processDue(Date.now() + 1e10, 1_000_000_000);
        for (;;) {
          const reservedAt = Date.now();
          const b = q.reserve(1000, 1 << 30, reservedAt + 60_000, reservedAt);
          if (b.length === 0) break;
          for (const m of b) {
            expect(m.body.equals(bodyFor(m.id)), `body of ${m.id} intact`).to.equal(true);
            // Expiry survives torn tails, delay copies and replays; dead letters carry none.
            const kind = expiryKind(m.id);
            const want = kind === "far" && q === main ? farExpiry(m.id) : 0;
            if (kind !== "short" || q !== main) expect(m.expiresAtMs, `expiry of ${m.id} (${kind})`).to.equal(want);
            else expect(m.expiresAtMs, `short expiry of ${m.id} not passed when delivered`).to.be.greaterThan(reservedAt);
            present.add(m.id);
          }
        }
        if (kind === "dead") deadSeen = Math.max(deadSeen, q.stats().inFlight);
      }
      // Gone without a reported ack is fine only if an ack was about to be made,
      // or if the message had a short expiry (discarded once it passed).
      const missing = [...appended].filter((id) => !present.has(id) && !planned.has(id) && expiryKind(id) !== "short");
      const resurrected = [...acked].filter((id) => present.has(id));
      if ((missing.length > 0 || resurrected.length > 0) && process.env.GMQ_CRASH_KEEP) {
        fs.cpSync(dir, `${dir}-failed`, { recursive: true });
        console.log("kept", `${dir}-failed`, "missing", missing.slice(0, 50).join(","), "back", resurrected.join(","));
        fs.writeFileSync(`${dir}-failed/log.txt`, history.join("\n"));
      }
      expect(missing, `cycle ${cycle} (${policy}): acknowledged appends missing`).to.deep.equal([]);
      expect(resurrected, `cycle ${cycle} (${policy}): acked messages back`).to.deep.equal([]);
      expect(r.appended.length, `cycle ${cycle} did some work`).to.be.greaterThan(0);
      await store.close();
      fs.rmSync(copy, { recursive: true, force: true });
    }
    expect(appended.size).to.be.greaterThan(1000);
    expect(acked.size).to.be.greaterThan(300);
    expect(deadSeen, "some messages went through the dead-letter path").to.be.greaterThan(0);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
