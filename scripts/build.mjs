// Transpiles src/ into dist/ with esbuild: what `npm start` and the bin
// launchers run. One file per source file in the same layout (the SDK's
// exports and anything importing a single module use these), then the two
// programs, the node (dist/main.js) and the CLI (dist/cli/main.js), bundled
// over their own files: a process then loads a few files instead of ~230
// modules one by one, which takes about a fifth off a node's start CPU and a
// quarter off a CLI command's (Node 20's module loader costs ~0.5 ms a file).
// Their shared code, and our modules they import only on demand, are chunks
// in dist/chunks/.
// Plain transpilation, no type check (`npm run lint` does that), and one
// parse of the broker proto for the gateway: ~1 s of CPU.
// Running the TypeScript through tsx instead costs ~20% of HTTP throughput
// (tsx compiles with esbuild's keepNames, a call per named closure).
import { cpSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
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

const all = files(src);
rmSync(out, { recursive: true, force: true });
await build({
  entryPoints: all.filter((f) => f.endsWith(".ts")),
  outdir: out,
  outbase: src,
  format: "esm",
  platform: "node",
  target: "node20",
  logLevel: "warning",
});
await build({
  entryPoints: { main: join(src, "main.ts"), "cli/main": join(src, "cli/main.ts") },
  outdir: out,
  bundle: true,
  splitting: true,
  chunkNames: "chunks/[name]-[hash]",
  format: "esm",
  platform: "node",
  target: "node20",
  // Left to node_modules: native addons (they load their binaries from their
  // package directories), pino (its worker files), etcd3 (its protos), what
  // is loaded only on demand, and grpc-js, which etcd3, reflection and the
  // health service require too: one copy of it in a process.
  external: ["mmap-io", "re2", "@node-rs/crc32", "@datadog/pprof", "pino", "etcd3", "@grpc/grpc-js", "@grpc/reflection", "@grpc/proto-loader", "grpc-health-check", "hdr-histogram-js", "cli-progress"],
  // Bundled CommonJS packages call require; an ES module has none of its own.
  banner: { js: 'import { createRequire as __gmqCreateRequire } from "node:module"; const require = __gmqCreateRequire(import.meta.url);' },
  allowOverwrite: true,
  logLevel: "warning",
});
for (const asset of all.filter((f) => !f.endsWith(".ts"))) cpSync(asset, join(out, relative(src, asset)));
// The gateway's view of the broker proto, read here once instead of by
// proto-loader at every node start (see brokerProtoSchema in proto-schema.ts).
const { readProtoDescriptors } = await import(pathToFileURL(join(out, "api/proto-schema.js")).href);
writeFileSync(join(out, "api/broker-proto.json"), JSON.stringify(readProtoDescriptors()));
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
