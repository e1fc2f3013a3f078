// Rewrites the README's configuration tables from src/config-table.ts
// (between the config-table markers). test/unit/config.test.ts fails while
// the README and the table differ: run `npm run readme:config` after editing a row.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { README_BEGIN, README_END, renderReadmeTables } from "../src/config-table.js";

const path = join(import.meta.dirname, "../README.md");
const readme = readFileSync(path, "utf8");
const begin = readme.indexOf(README_BEGIN);
const end = readme.indexOf(README_END);
if (begin < 0 || end < begin) throw new Error(`README.md lacks the markers ${README_BEGIN} … ${README_END}`);
const next = `${readme.slice(0, begin + README_BEGIN.length)}\n${renderReadmeTables()}\n${readme.slice(end)}`;
if (next === readme) console.log("README.md configuration tables are up to date");
else {
  writeFileSync(path, next);
  console.log("README.md configuration tables rewritten from src/config-table.ts");
}
