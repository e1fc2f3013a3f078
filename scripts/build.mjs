// Transpiles src/ into dist/ with esbuild: what `npm start` and the bin
// launchers run. One file per source file in the same layout (the SDK's
// exports and anything importing a single module use these), then the two
// programs, the node and the CLI, each bundled with its pure JavaScript
// dependencies into one CommonJS file (dist/bundles/) that
// src/run-bundle.cjs runs with V8's code cache; dist/main.js and
// dist/cli/main.js run those. A node then starts on 0.28 s of CPU instead
// of 0.48 as ES module chunks with grpc-js and pino loaded file by file
// (Node 20's loader costs ~0.5 ms a file, and it compiled all of it at every
// start), a CLI command on 0.22 instead of 0.29.
// Plain transpilation, no type check (`npm run lint` does that), and one
// parse of the broker proto for the gateway: ~1 s of CPU.
// Running the TypeScript through tsx instead costs ~20% of HTTP throughput
// (tsx compiles with esbuild's keepNames, a call per named closure).
import { execFileSync } from "node:child_process";
import { cpSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";

const root = join(import.meta.dirname, "..");
const src = join(root, "src");
const dist = join(root, "dist");
// Built beside dist/ and swapped in by rename: test workers running in
// parallel start nodes from dist/ while another worker may rebuild it, and
// must never see a half-written tree.
const out = join(root, `.dist-${process.pid}`);

function files(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));
}

/** The two programs: their bundle's name, their source, and the entry in dist/ that runs the bundle. */
const PROGRAMS = [
  { bundle: "node", source: "main.ts", entry: "main.js" },
  { bundle: "cli", source: "cli/main.ts", entry: "cli/main.js" },
];

const all = files(src);
const programSources = new Set(PROGRAMS.map((p) => join(src, p.source)));
rmSync(out, { recursive: true, force: true });
await build({
  entryPoints: all.filter((f) => f.endsWith(".ts") && !programSources.has(f)),
  outdir: out,
  outbase: src,
  format: "esm",
  platform: "node",
  target: "node20",
  logLevel: "warning",
});
await build({
  entryPoints: Object.fromEntries(PROGRAMS.map((p) => [p.bundle, join(src, p.source)])),
  outdir: join(out, "bundles"),
  outExtension: { ".js": ".cjs" },
  bundle: true,
  format: "cjs",
  platform: "node",
  target: "node20",
  // import() of what is left out becomes require(): those packages are
  // CommonJS, and a vm.Script has no loader for import().
  supported: { "dynamic-import": false },
  // Left to node_modules: native addons (they load their binaries from their
  // package directories), etcd3 (its protos), and what is loaded only on
  // demand (reflection and the health service bring their own grpc-js and
  // protobufjs, loaded only when first called).
  external: ["mmap-io", "re2", "@node-rs/crc32", "@datadog/pprof", "etcd3", "@grpc/reflection", "@grpc/proto-loader", "grpc-health-check", "hdr-histogram-js", "cli-progress"],
  // CommonJS has no import.meta: a module's URL is its bundle's.
  define: { "import.meta.url": "__gmqModuleUrl" },
  banner: { js: 'const __gmqModuleUrl = require("node:url").pathToFileURL(__filename).href;' },
  logLevel: "warning",
});
for (const { bundle, entry } of PROGRAMS) {
  const runner = relative(dirname(join(out, entry)), join(out, "run-bundle.cjs"));
  writeFileSync(join(out, entry), `// scripts/build.mjs: the ${bundle} runs from its bundle.\nimport { runBundle } from "${runner.startsWith(".") ? runner : `./${runner}`}";\nrunBundle("${bundle}");\n`);
}
for (const asset of all.filter((f) => !f.endsWith(".ts"))) cpSync(asset, join(out, relative(src, asset)));
// The gateway's view of the broker proto, read here once instead of by
// proto-loader at every node start (see brokerProtoSchema in proto-schema.ts).
const { readProtoDescriptors } = await import(pathToFileURL(join(out, "api/proto-schema.js")).href);
writeFileSync(join(out, "api/broker-proto.json"), JSON.stringify(readProtoDescriptors()));
// Each bundle's code cache, from a `--help` run of it (see run-bundle.cjs).
const env = { ...process.env, GMQ_WRITE_CODE_CACHE: "1" };
delete env.NODE_OPTIONS; // flags there would key the cache to them
for (const { entry } of PROGRAMS) execFileSync(process.execPath, [join(out, entry), "--help"], { env, stdio: "ignore" });
// The launchers run dist/ only while no source file is newer than this stamp.
writeFileSync(join(out, ".built"), `${new Date().toISOString()}\n`);
const old = join(root, `.dist-old-${process.pid}`);
try {
  renameSync(dist, old);
} catch (e) {
  if (e.code !== "ENOENT") throw e; // never built
}
renameSync(out, dist);
rmSync(old, { recursive: true, force: true });
