// Runs an entry point of gmq: the JavaScript in dist/ (built by `npm install`
// and `npm start`) when no source file is newer than that build, else the
// TypeScript sources through tsx, so an edited checkout never runs stale code.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const root = join(import.meta.dirname, "..");

function newestSourceMs(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestSourceMs(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function builtIsFresh() {
  try {
    return statSync(join(root, "dist/.built")).mtimeMs >= newestSourceMs(join(root, "src"));
  } catch {
    return false; // never built
  }
}

/** entry: a path under src/ without its extension, e.g. "main" or "cli/main". */
export async function launch(entry) {
  if (builtIsFresh()) {
    await import(pathToFileURL(join(root, "dist", `${entry}.js`)).href);
    return;
  }
  const { register } = await import("tsx/esm/api");
  register();
  await import(pathToFileURL(join(root, "src", `${entry}.ts`)).href);
}
