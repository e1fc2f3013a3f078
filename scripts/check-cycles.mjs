// Keeps the layering honest: no circular imports anywhere in src/, and each
// layer imports only what sits below it (api -> broker -> store; the client
// never imports server code; only api/, cluster/ and client/ touch grpc/etcd).
// api/ and the composition root see the broker only through its public
// surface, broker/index.ts. Every file of src/ belongs to a layer listed here.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const root = resolve("src");
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (p.endsWith(".ts")) files.push(p);
  }
})(root);

const layerOf = (file) => relative(root, file).split("/")[0].replace(/\.ts$/, "");
// What each layer may import from other layers of src/.
const allowed = {
  gen: [],
  wire: [], // protobuf wire primitives of the hand-written codecs (api/ and client/)
  store: ["broker/storage.ts"], // the contract the broker defines for it
  broker: [],
  api: ["broker/index.ts", "gen", "config", "wire", "paths"],
  cluster: ["gen", "config"],
  client: ["gen", "wire"],
  cli: ["client", "gen", "version"],
  config: ["config-table"],
  "config-table": [], // the option rows config.ts parses; nothing else imports them
  node: ["api", "broker/index.ts", "cluster", "config", "log", "store/index.ts", "version"],
  main: ["config", "log", "node", "idle-gc"],
  "idle-gc": [], // the process's own heap upkeep, started by main only
  log: [],
  version: ["paths"],
  paths: [], // where package.json, proto/ and the assets are at run time
};
const describe = (list) => (list.length ? list.map((x) => (x.endsWith(".ts") ? x : `${x}/`)).join(", ") : "nothing");
const packageRules = [
  { pattern: /^@grpc\//, layers: ["api", "client", "cli", "gen", "main"] },
  { pattern: /^etcd3$/, layers: ["cluster", "client", "main"] },
  { pattern: /^mmap-io$/, layers: ["store"] },
];

const graph = new Map();
const problems = [];
const importRe = /(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;
for (const file of files) {
  const src = readFileSync(file, "utf8");
  const deps = [];
  if (!allowed[layerOf(file)]) problems.push(`${relative(root, file)}: layer ${layerOf(file)} has no rule in scripts/check-cycles.mjs`);
  for (const m of src.matchAll(importRe)) {
    const spec = m[1] ?? m[2];
    const layer = layerOf(file);
    if (spec.startsWith(".")) {
      const target = resolve(dirname(file), spec.replace(/\.js$/, ".ts"));
      deps.push(target);
      const tl = layerOf(target);
      const rel = relative(root, target);
      const ok = allowed[layer];
      if (tl !== layer && ok && !ok.includes(tl) && !ok.includes(rel)) {
        problems.push(`${relative(root, file)} imports ${rel}: ${layer} may import only ${describe(ok)}`);
      }
    } else {
      for (const rule of packageRules) {
        if (rule.pattern.test(spec) && !rule.layers.includes(layer)) {
          problems.push(`${relative(root, file)} imports ${spec}: only ${rule.layers.join(", ")} may`);
        }
      }
    }
  }
  graph.set(file, deps);
}

const state = new Map();
const stack = [];
function visit(f) {
  if (state.get(f) === 2) return;
  if (state.get(f) === 1) {
    const cycle = stack.slice(stack.indexOf(f)).concat(f).map((x) => relative(root, x));
    problems.push(`circular import: ${cycle.join(" -> ")}`);
    return;
  }
  state.set(f, 1);
  stack.push(f);
  for (const d of graph.get(f) ?? []) if (graph.has(d)) visit(d);
  stack.pop();
  state.set(f, 2);
}
for (const f of graph.keys()) visit(f);

if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log(`imports ok: ${files.length} files, no cycles, layers respected`);
