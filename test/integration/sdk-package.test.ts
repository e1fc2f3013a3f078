// The SDK as users install it: packages/client packed with `npm pack`, the
// tarball installed into an empty project with no network (dependencies from
// the local npm cache), then used from a plain .mjs file and type-checked by
// `tsc --strict`, against a real node.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { writeOfflineProject } from "../helpers/offline-install.js";
import { startNodeProcess, type NodeProcess } from "../helpers/node-process.js";

const repoRoot = join(import.meta.dirname, "../..");
const pkgDir = join(repoRoot, "packages/client");
const tsc = join(repoRoot, "node_modules/typescript/bin/tsc");

function run(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", env: { ...process.env, npm_config_update_notifier: "false" } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** Every file path under dir, relative to it. */
function tree(dir: string, prefix = ""): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tree(dir, join(prefix, e.name)) : [join(prefix, e.name)],
  );
}

describe("SDK package @gmq/client (npm pack, offline install, plain Node and tsc --strict)", function () {
  this.timeout(180_000);
  let tmp: string;
  let app: string;
  let node: NodeProcess;
  let tarball: string;

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), "gmq-sdk-pkg-"));
    app = join(tmp, "app");
    // prepack builds dist/ (tsc: JavaScript and declarations) first.
    const packed = JSON.parse(run("npm", ["pack", "--json", "--pack-destination", tmp], pkgDir)) as { filename: string }[];
    tarball = join(tmp, packed[0]!.filename);
    const manifest = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")) as { name: string; version: string; dependencies: Record<string, string> };
    execFileSync("mkdir", [app]);
    writeOfflineProject(app, { ...manifest, file: tarball }, ["@types/node"]);
    run("npm", ["install", "--offline", "--no-audit", "--no-fund"], app);
    node = await startNodeProcess();
  });
  after(async () => {
    await node?.stop();
    node?.cleanup();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("packs only built JavaScript, type declarations, README and package.json", () => {
    const files = tree(join(app, "node_modules/@gmq/client"));
    expect(files).to.include.members(["package.json", "README.md", "dist/client/index.js", "dist/client/index.d.ts", "dist/gen/gmq/v1/broker.js"]);
    expect(files.filter((f) => !/^(package\.json|README\.md|dist\/.*(\.d\.ts|\.js))$/.test(f))).to.deep.equal([]);
    expect(files.filter((f) => /^dist\/(api|broker|store|cluster|cli)\//.test(f))).to.deep.equal([]);
  });

  it("installs without the node's native addons or anything to compile", () => {
    const installed = tree(join(app, "node_modules"));
    expect(existsSync(join(app, "node_modules/mmap-io"))).to.equal(false);
    expect(existsSync(join(app, "node_modules/re2"))).to.equal(false);
    expect(installed.filter((f) => f.endsWith("binding.gyp") || f.endsWith(".node"))).to.deep.equal([]);
  });

  it("runs a plain .mjs importing @gmq/client against a real node", () => {
    writeFileSync(
      join(app, "main.mjs"),
      `import { GmqClient, GmqError, Code } from "@gmq/client";
const client = await GmqClient.connect({ addresses: [process.argv[2]] });
await client.declareQueue("sdkpkg", "q");
const pushed = await client.push("sdkpkg", "hello", { routeKey: "q" });
const m = await client.pop("sdkpkg", "q", { waitMs: 5000 });
await client.ack(m);
let refused = "";
try { await client.push("sdkpkg", "x", { routeKey: "nope" }); } catch (e) { refused = e instanceof GmqError && e.code === Code.FAILED_PRECONDITION ? "FAILED_PRECONDITION" : String(e); }
console.log(JSON.stringify({ same: m.id === pushed.id, body: m.body.toString(), refused }));
await client.close();
`,
    );
    const out = run(process.execPath, ["main.mjs", node.grpcAddr], app);
    expect(JSON.parse(out)).to.deep.equal({ same: true, body: "hello", refused: "FAILED_PRECONDITION" });
  });

  it("type-checks a TypeScript user of the package with tsc --strict, and rejects a wrong use", () => {
    const good = `import { GmqClient, GmqError, Code, type Delivery, type PushResult } from "@gmq/client";
export async function main(addr: string): Promise<PushResult> {
  const client = await GmqClient.connect({ addresses: [addr], callTimeoutMs: 5000 });
  const consumer = client.consume("t", "q", async (m: Delivery) => void m.body.toString("utf8"), { maxInFlight: 10 });
  consumer.done.catch((e: unknown) => e instanceof GmqError && e.code === Code.PERMISSION_DENIED);
  return client.push("t", "x", { routeKey: "q", delayMs: 10 });
}
`;
    writeFileSync(join(app, "good.ts"), good);
    writeFileSync(join(app, "bad.ts"), `import { GmqClient } from "@gmq/client";\nexport const c: Promise<number> = GmqClient.connect({ addresses: ["a"] });\n`);
    const args = ["--strict", "--noEmit", "--pretty", "false", "--target", "es2022", "--module", "nodenext", "--moduleResolution", "nodenext", "--types", "node"];
    // One tsc run checks both files (a run costs seconds of CPU): errors in bad.ts only.
    const r = spawnSync(process.execPath, [tsc, ...args, "good.ts", "bad.ts"], { cwd: app, encoding: "utf8" });
    const errors = r.stdout.split("\n").filter((l) => /error TS\d+/.test(l));
    expect(r.status, r.stdout).to.not.equal(0);
    expect(errors.filter((l) => !l.startsWith("bad.ts(")), r.stdout).to.deep.equal([]);
    expect(errors.some((l) => /^bad\.ts\(\d+,\d+\): error TS2322/.test(l)), r.stdout).to.equal(true);
  });
});
