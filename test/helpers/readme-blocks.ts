// The README's shell blocks and what each is marked as. A block is marked by
// an HTML comment on the line before its ```sh fence:
//   <!-- runnable: <group> -->          run by test/integration/readme.test.ts,
//                                       in README order with the group's other blocks
//   <!-- run by test/clients: <name> --> run by test/clients/clients.test.ts
//   <!-- not runnable: <why> -->        documented only (needs grpcurl, a daemon on
//                                       fixed ports, a package install, ...)
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface ShellBlock {
  /** 1-based line of the opening fence. */
  line: number;
  /** The marker comment's kind and argument; kind "" when the block has none. */
  kind: "runnable" | "run by test/clients" | "not runnable" | "";
  arg: string;
  code: string;
}

const MARKER = /^<!-- (runnable|run by test\/clients|not runnable): (.+?) -->$/;

export function readmeShellBlocks(path = join(import.meta.dirname, "../../README.md")): ShellBlock[] {
  const lines = readFileSync(path, "utf8").split("\n");
  const blocks: ShellBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.startsWith("```")) continue;
    const info = lines[i]!.slice(3).trim();
    let end = i + 1;
    while (end < lines.length && !lines[end]!.startsWith("```")) end++;
    if (info === "sh") {
      const m = MARKER.exec(lines[i - 1] ?? "");
      blocks.push({
        line: i + 1,
        kind: m ? (m[1] as ShellBlock["kind"]) : "",
        arg: m ? m[2]! : "",
        code: lines.slice(i + 1, end).join("\n"),
      });
    }
    i = end; // a fence's body never opens another block
  }
  return blocks;
}
