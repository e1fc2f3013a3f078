// The gmq command line: every broker operation over the client SDK, against a
// cluster found through etcd (--etcd) or fixed node addresses (--addr).
// Errors print as one line "gmq: CODE: message" with a non-zero exit code.
import { Command, CommanderError, Option } from "commander";
import { GmqError } from "../client/index.js";
import { VERSION } from "../version.js";
import { CliError, Context, type GlobalOptions } from "./context.js";
import { durationHelp } from "./format.js";
import { register as admin } from "./commands/admin.js";
import { register as bench } from "./commands/bench.js";
import { register as consume } from "./commands/consume.js";
import { register as dead } from "./commands/dead.js";
import { register as messages } from "./commands/messages.js";
import { register as nodes } from "./commands/nodes.js";
import { register as pop } from "./commands/pop.js";
import { register as pubsub } from "./commands/pubsub.js";
import { register as push } from "./commands/push.js";
import { register as stats } from "./commands/stats.js";
import { register as trace } from "./commands/trace.js";

export function buildProgram(): { program: Command; context: () => Context } {
  let ctx: Context | undefined;
  const program = new Command("gmq")
    .description("command-line client of the gmq message broker")
    .version(VERSION, "-V, --version")
    .addOption(new Option("-e, --etcd <endpoints>", "comma-separated etcd endpoints: discover the cluster's nodes").env("GMQ_ETCD"))
    .addOption(new Option("--etcd-prefix <prefix>", "etcd key prefix of node records").env("GMQ_ETCD_PREFIX").default("/gmq/nodes/"))
    .addOption(new Option("-a, --addr <addresses>", "comma-separated node gRPC addresses (host:port[@weight]); default 127.0.0.1:9503").env("GMQ_ADDR"))
    .addOption(new Option("--strategy <s>", "how pushes pick a node: weighted | random | round-robin").default("weighted"))
    .addOption(new Option("--timeout-ms <ms>", "deadline of each call; ms, or e.g. 30s").default("10000"))
    .addOption(new Option("--tls-ca <file>", "connect with TLS, trusting this PEM CA bundle").env("GMQ_TLS_CA"))
    .addOption(new Option("--tls-cert <file>", "client certificate (PEM) for mutual TLS").env("GMQ_TLS_CERT"))
    .addOption(new Option("--tls-key <file>", "client key (PEM) for mutual TLS").env("GMQ_TLS_KEY"))
    .addOption(new Option("--token <token>", "bearer token for nodes started with --auth-file (prefer the environment variable: a flag shows in ps)").env("GMQ_TOKEN"))
    .option("--json", "print JSON (one object per line) instead of tables")
    .addHelpText("after", `\n${durationHelp}`)
    .showHelpAfterError("(run gmq --help for usage)")
    .exitOverride();
  const context = () => (ctx ??= new Context(program.opts<GlobalOptions>()));
  for (const add of [admin, push, pop, consume, dead, messages, pubsub, stats, trace, nodes, bench]) add(program, context);
  for (const cmd of program.commands) cmd.exitOverride();
  return { program, context };
}

export async function run(argv: string[]): Promise<number> {
  const { program, context } = buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander already printed usage errors and help.
      return err.code === "commander.helpDisplayed" || err.code === "commander.help" || err.code === "commander.version" ? 0 : 2;
    }
    if (err instanceof GmqError) process.stderr.write(`gmq: ${err.codeName}${err.reason ? ` (${err.reason})` : ""}: ${err.message}\n`);
    else if (err instanceof CliError) process.stderr.write(`gmq: ${err.message}\n`);
    else process.stderr.write(`gmq: ${(err as Error)?.message ?? String(err)}\n`);
    return 1;
  } finally {
    await context().close().catch(() => undefined);
  }
}

// No top-level await: the CLI runs as a CommonJS bundle (scripts/build.mjs).
void run(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  // The SDK's streams are closed; exit once stdout is flushed rather than wait for sockets to linger.
  process.stdout.write("", () => process.exit());
});
