// Test files run in parallel worker processes: most of a test's time is spent
// waiting on the real node, etcd, browser and client processes it starts, not
// on mocha's own CPU. Every test uses its own ports (0) and data dirs, so
// files do not share state. The slowest files start first, so the run does
// not end waiting on one of them (the list: each file run alone, longest first). GMQ_TEST_JOBS=1 runs the files one by one.
const { readdirSync } = require("node:fs");

const SLOW_FIRST = [
  "test/integration/damage.test.ts",
  "test/integration/readme.test.ts",
  "test/integration/sdk-package.test.ts",
  "test/integration/limits.test.ts",
  "test/integration/durability.test.ts",
  "test/cluster/cluster.test.ts",
  "test/integration/retry-backoff.test.ts",
  "test/integration/streams.test.ts",
  "test/client/cli.test.ts",
  "test/integration/fuzz.test.ts",
  "test/clients/clients.test.ts",
];
const all = readdirSync("test", { recursive: true })
  .filter((f) => f.endsWith(".test.ts"))
  .map((f) => `test/${f}`)
  .sort();
const jobs = Number(process.env.GMQ_TEST_JOBS ?? 4);

module.exports = {
  "node-option": ["import=tsx"],
  spec: [...SLOW_FIRST.filter((f) => all.includes(f)), ...all.filter((f) => !SLOW_FIRST.includes(f))],
  parallel: jobs > 1,
  jobs,
  timeout: 60000,
  forbidOnly: true,
  exit: false,
};
