// Installs packages into a temp project with no network: a package-lock.json
// is written from the repository's own lock (the exact versions and integrity
// hashes `npm ci` put in the local npm cache), so `npm install --offline`
// takes every tarball from the cache and needs no registry metadata.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  license?: string;
  engines?: unknown;
  bin?: unknown;
  hasInstallScript?: boolean;
  dev?: boolean;
  optional?: boolean;
}

const repoRoot = join(import.meta.dirname, "../..");

/** The lock entries (path -> entry) that `names` need, following Node's lookup from each dependent's folder. */
function closure(packages: Record<string, LockEntry>, names: string[]): Map<string, LockEntry> {
  const out = new Map<string, LockEntry>();
  const resolve = (from: string, name: string): string | undefined => {
    for (let dir = from; ; ) {
      if (packages[`${dir}/node_modules/${name}`]) return `${dir}/node_modules/${name}`;
      const up = dir.lastIndexOf("/node_modules/");
      if (up < 0) break;
      dir = dir.slice(0, up);
    }
    return packages[`node_modules/${name}`] ? `node_modules/${name}` : undefined;
  };
  const visit = (path: string) => {
    if (out.has(path)) return;
    const e = packages[path]!;
    out.set(path, e);
    for (const dep of Object.keys({ ...e.dependencies, ...e.optionalDependencies })) {
      const p = resolve(path, dep);
      if (p) visit(p);
      else if (!e.optionalDependencies?.[dep]) throw new Error(`${dep} (needed by ${path}) is not in the repository's lock`);
    }
  };
  for (const n of names) {
    const p = `node_modules/${n}`;
    if (!packages[p]) throw new Error(`${n} is not in the repository's lock`);
    visit(p);
  }
  return out;
}

/**
 * Writes package.json and package-lock.json into `dir` for a project that
 * depends on a local package tarball (with its dependencies `tarballDeps`) and
 * on `registryDeps`, all at the versions of the repository's lock.
 */
export function writeOfflineProject(dir: string, tarball: { name: string; version: string; file: string; dependencies: Record<string, string> }, registryDeps: string[]): void {
  const lock = JSON.parse(readFileSync(join(repoRoot, "package-lock.json"), "utf8")) as { packages: Record<string, LockEntry> };
  const needed = closure(lock.packages, [...Object.keys(tarball.dependencies), ...registryDeps]);
  const direct = Object.fromEntries(registryDeps.map((n) => [n, lock.packages[`node_modules/${n}`]!.version!]));
  const spec = `file:${tarball.file}`;
  const packages: Record<string, unknown> = {
    "": { name: "sdk-user", version: "1.0.0", dependencies: { [tarball.name]: spec, ...direct } },
    [`node_modules/${tarball.name}`]: { version: tarball.version, resolved: spec, dependencies: tarball.dependencies },
  };
  for (const [path, e] of needed) {
    const { dev: _dev, optional: _optional, ...rest } = e;
    packages[path] = rest;
  }
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "sdk-user", version: "1.0.0", private: true, type: "module", dependencies: { [tarball.name]: spec, ...direct } }, null, 2));
  writeFileSync(join(dir, "package-lock.json"), JSON.stringify({ name: "sdk-user", version: "1.0.0", lockfileVersion: 3, requires: true, packages }, null, 2));
}
