// Runs an entry point of gmq: the JavaScript in dist/ (built by `npm install`
// and `npm start`) when no source file is newer than that build, else the
// TypeScript sources through tsx, so an edited checkout never runs stale code.
// Either way in this process (an import, no child process), so a signal sent
// to the launcher's pid reaches the node or CLI itself.
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

/**
 * Under `npx gnode …` the process tree is npm -> sh -c -> this process, and
 * npm hands a SIGTERM to the shell only: `kill $!` on a background npx then
 * ends npm and the shell and leaves us running, orphaned (and registered in
 * etcd). So when npm started us, losing our parent is a SIGTERM: the node
 * shuts down as on any SIGTERM (leaves etcd, flushes, exits 0).
 */
function stopWithNpmParent() {
  if (!process.env.npm_command) return;
  const parent = process.ppid;
  const watch = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(watch);
    process.kill(process.pid, "SIGTERM");
  }, 200).unref();
}

/** entry: a path under src/ without its extension, e.g. "main" or "cli/main". */
export async function launch(entry) {
  stopWithNpmParent();
  if (builtIsFresh()) {
    await import(pathToFileURL(join(root, "dist", `${entry}.js`)).href);
    return;
  }
  const { register } = await import("tsx/esm/api");
  register();
  await import(pathToFileURL(join(root, "src", `${entry}.ts`)).href);
}
