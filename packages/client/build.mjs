// Builds the SDK package from the repository's sources: src/client (and the
// generated src/gen it imports) compiled by tsc to JavaScript with type
// declarations in dist/. tsc comes from the repository's dev dependencies;
// `npm pack` here runs this first (prepack).
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const here = import.meta.dirname;
const tsc = createRequire(join(here, "../../package.json")).resolve("typescript/bin/tsc");
rmSync(join(here, "dist"), { recursive: true, force: true });
const r = spawnSync(process.execPath, [tsc, "-p", join(here, "tsconfig.json")], { stdio: "inherit" });
process.exit(r.status ?? 1);
