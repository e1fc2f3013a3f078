// Fails when src/gen differs from what `buf generate` makes of proto/ now,
// or when the proto is not lint-clean or formatted.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const buf = "node_modules/.bin/buf";
const out = mkdtempSync(join(tmpdir(), "gmq-gen-"));
try {
  execFileSync(buf, ["generate", "-o", out], { stdio: "inherit" });
  execFileSync("diff", ["-r", "src/gen", join(out, "src/gen")], { stdio: "inherit" });
  execFileSync(buf, ["format", "-d", "--exit-code", "proto"], { stdio: "inherit" });
} catch {
  console.error("generated code or proto formatting is stale: run `npm run generate` and commit");
  process.exit(1);
} finally {
  rmSync(out, { recursive: true, force: true });
}
console.log("generated code is up to date");
