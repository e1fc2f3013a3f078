// `npm test`: the static checks (generated code current, buf lint, tsc,
// layering; `npm run check`) and the mocha suite, side by side. tsc alone is
// ~20 s of one core; run first it held the suite back by that long, while
// beside the suite it fills what the tests leave of the machine. dist/ is
// built first: the tests start nodes from it. The checks' output is shown once
// they end, so it does not interleave with mocha's; the exit code is non-zero
// when either fails.
import { spawn, spawnSync } from "node:child_process";

const npm = process.platform === "win32" ? "npm.cmd" : "npm";
const built = spawnSync(process.execPath, ["scripts/build.mjs"], { stdio: "inherit" });
if (built.status !== 0) process.exit(built.status ?? 1);

const check = spawn(npm, ["run", "--silent", "check"], { stdio: ["ignore", "pipe", "pipe"] });
let checkOutput = "";
check.stdout.on("data", (d) => (checkOutput += d));
check.stderr.on("data", (d) => (checkOutput += d));
const checked = new Promise((resolve) => check.on("close", (code) => resolve(code ?? 1)));

const mocha = spawn(process.execPath, ["node_modules/mocha/bin/mocha.js", ...process.argv.slice(2)], { stdio: "inherit" });
const tested = new Promise((resolve) => mocha.on("close", (code) => resolve(code ?? 1)));

const [checkCode, testCode] = await Promise.all([checked, tested]);
process.stdout.write(`\nnpm run check: ${checkCode === 0 ? "passed" : `failed (exit ${checkCode})`}\n${checkOutput}`);
process.exit(checkCode !== 0 ? checkCode : testCode);
