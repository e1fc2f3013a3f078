// Runs one of the two programs scripts/build.mjs bundles, the node
// (dist/bundles/node.cjs) or the CLI (dist/bundles/cli.cjs), with V8's code
// cache: Node 20 has no compile cache of its own (Node 22's
// module.enableCompileCache), so every start parsed the ~1.8 MB bundle and
// compiled each function it ran on the way, about a third of a node's start
// CPU. The cache is written once, by the build (GMQ_WRITE_CODE_CACHE=1: at the
// exit of a `--help` run, so it holds the code compiled up to then). V8 checks
// it against the source and its own flags and ignores it when either differs:
// a stale or foreign cache costs the usual compile, never a wrong program.
// CommonJS, because Node 20 takes a code cache only for a vm.Script.
"use strict";
const { readFileSync, writeFileSync } = require("node:fs");
const Module = require("node:module");
const { dirname, join } = require("node:path");
const vm = require("node:vm");

/** name: "node" or "cli". */
function runBundle(name) {
  const file = join(__dirname, "bundles", `${name}.cjs`);
  const cacheFile = `${file}.v8-cache`;
  let cachedData;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    // not built with one: compiled from source
  }
  const script = new vm.Script(Module.wrap(readFileSync(file, "utf8")), { filename: file, cachedData });
  if (process.env.GMQ_WRITE_CODE_CACHE === "1") process.on("exit", () => writeFileSync(cacheFile, script.createCachedData()));
  const bundle = new Module(file);
  bundle.filename = file;
  script.runInThisContext()(bundle.exports, Module.createRequire(file), bundle, file, dirname(file));
}

module.exports = { runBundle };
