// Where gmq's own files are at run time. Found by walking up from this
// module's location rather than by a fixed "../..": the node and the CLI run
// as bundles (dist/bundles/; see scripts/build.mjs), where every module
// shares its bundle's location.
import { existsSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

function packageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "proto"))) return dir;
    if (dirname(dir) === dir) throw new Error(`gmq's package root (package.json beside proto/) not found above ${from}`);
  }
}

const here = dirname(fileURLToPath(import.meta.url));

/** The checkout or installed package: package.json, proto/, src/, dist/. */
export const ROOT = packageRoot(here);

/** The tree this code runs from: ROOT/dist (built) or ROOT/src (through tsx); its assets sit at the same paths in both. */
export const CODE_DIR = join(ROOT, relative(ROOT, here).split(sep)[0]!);
