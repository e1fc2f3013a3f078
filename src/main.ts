// gnode: a gmq broker node. Composition root only: config -> node -> signals.
import { existsSync } from "node:fs";
import { ConfigError, loadConfig } from "./config.js";
import { startIdleGc } from "./idle-gc.js";
import { createLogger } from "./log.js";
import { startNode, type RunningNode } from "./node.js";

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.argv.slice(2));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`gnode: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);

  // Signals are handled from the start: one arriving while the node starts
  // stops it as soon as it is up, still gracefully.
  let node: RunningNode | undefined;
  let stopSignal: string | undefined;
  const stop = (signal: string) => {
    if (stopSignal) return;
    stopSignal = signal;
    if (!node) return;
    logger.info({ signal }, "shutting down");
    node.close().then(
      () => {
        logger.info({}, "stopped");
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGHUP", () => node?.reload());

  node = await startNode(config, logger, { beforeRecovery: holdWhileFileExists(process.env.GMQ_TEST_HOLD_RECOVERY) });
  // Always printed, whatever the log level: scripts and tests read the bound addresses from it.
  logger.child({}, { level: "info" }).info(
    { grpcAddr: node.grpcAddr, httpAddr: node.httpAddr, nodeId: config.nodeId, dataDir: config.dataDir, fsync: config.fsync },
    "listening",
  );
  startIdleGc();
  if (stopSignal) {
    const signal = stopSignal;
    stopSignal = undefined;
    stop(signal);
  }
}

/**
 * Test seam: while the file named by GMQ_TEST_HOLD_RECOVERY exists, the node
 * stays in its recovering phase (servers listening, not ready), so a test can
 * observe that phase whatever the machine's speed.
 */
function holdWhileFileExists(path: string | undefined): (() => Promise<void>) | undefined {
  if (!path) return undefined;
  return async () => {
    while (existsSync(path)) await new Promise((r) => setTimeout(r, 20));
  };
}

main().catch((err: unknown) => {
  process.stderr.write(`gnode: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
