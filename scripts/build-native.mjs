// Builds mmap-io's addon on `npm ci`. Its own install script is denied in
// package.json (allowScripts) because its binding.gyp forces -std=c++11, which
// Node 20's headers reject; the later -std=c++17 in CXXFLAGS wins.
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);

function loads() {
  try {
    require("mmap-io");
    return true;
  } catch {
    return false;
  }
}

if (loads()) process.exit(0);

const pkgDir = dirname(require.resolve("mmap-io/package.json"));
const gyp =
  process.env.npm_config_node_gyp ??
  join(dirname(process.execPath), "../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js");
const args = [gyp, "rebuild"];
if (!process.env.npm_config_nodedir) args.push(`--nodedir=${join(dirname(process.execPath), "..")}`);
execFileSync(process.execPath, args, {
  cwd: pkgDir,
  stdio: "inherit",
  env: { ...process.env, CXXFLAGS: `${process.env.CXXFLAGS ?? ""} -std=c++17`.trim() },
});
if (!loads()) {
  console.error("mmap-io was built but does not load");
  process.exit(1);
}
