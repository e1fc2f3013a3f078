// Composition of one node: storage -> broker -> gRPC (and, when configured,
// the HTTP gateway and cluster registration). Used by main.ts and by tests
// that need a node in process.
import { loadAuthFile } from "./api/auth.js";
import { startGrpcServer, type RunningGrpcServer } from "./api/grpc-server.js";
import { createUnaryHandlers } from "./api/handlers.js";
import { startHttpServer, type RunningHttpServer } from "./api/http-server.js";
import { createNodeMetrics, grpcObserver } from "./api/metrics.js";
import { grpcServerCredentials, loadTls } from "./api/tls.js";
import { Broker } from "./broker/index.js";
import { joinCluster } from "./cluster/join.js";
import type { Registration } from "./cluster/registration.js";
import { specOf, type NodeConfig } from "./config.js";
import type { Logger } from "./log.js";
import { openStorage } from "./store/index.js";
import { VERSION } from "./version.js";

export interface RunningNode {
  grpcAddr: string;
  httpAddr: string;
  broker: Broker;
  /** Re-reads what can change without a restart (the auth file); logs what it did. */
  reload(): void;
  /** Graceful stop: refuse new calls, end streams, let calls finish, flush storage. */
  close(): Promise<void>;
}

const SHUTDOWN_GRACE_MS = 5_000;
/** Between leaving etcd and closing the servers (cluster mode only). */
const DEREGISTER_GRACE_MS = 500;

export async function startNode(config: NodeConfig, logger: Logger): Promise<RunningNode> {
  // Read before anything opens, so a bad auth file fails the start and touches no data.
  const auth = config.authFile ? loadAuthFile(config.authFile) : undefined;
  if (auth) logger.info({ authFile: config.authFile, tokens: auth.names }, "token auth on");
  const storage = openStorage({
    dataDir: config.dataDir,
    segmentBytes: config.segmentBytes,
    maxBodyBytes: config.maxBodyBytes,
    fsync: config.fsync,
    fsyncIntervalMs: config.fsyncIntervalMs,
    logger,
  });
  let metrics: ReturnType<typeof createNodeMetrics> | undefined;
  const limitRejected = (key: keyof NodeConfig) => metrics?.limitRejected(specOf(key).flag);
  const broker = Broker.open({
    storage,
    nodeId: config.nodeId,
    version: VERSION,
    maxBodyBytes: config.maxBodyBytes,
    maxPushFanoutBytes: config.maxPushFanoutBytes,
    limitRejected,
    logger,
  });
  metrics = config.metrics ? createNodeMetrics({ topicStats: () => broker.allTopicStats(), storageStats: () => storage.stats() }) : undefined;
  let grpc: RunningGrpcServer;
  try {
    grpc = await startGrpcServer({
      broker,
      addr: config.grpcAddr,
      logger,
      credentials: grpcServerCredentials(loadTls(config)),
      auth,
      observe: grpcObserver(metrics),
      limits: config,
      limitRejected,
    });
  } catch (err) {
    await broker.close();
    throw err;
  }
  let http: RunningHttpServer | undefined;
  let registration: Registration | undefined;
  try {
    if (config.httpAddr) {
      http = await startHttpServer({ config, broker, handlers: createUnaryHandlers(broker, { ...config, rejected: limitRejected }), metrics, limitRejected, logger, version: VERSION, auth });
    }
    // Registered only once the servers listen; refused (and torn down) when a live node holds our id.
    registration = await joinCluster(
      config,
      { grpcAddr: grpc.addr, httpAddr: http?.addr ?? "" },
      { version: VERSION, startedAtMs: broker.startedAtMs },
      logger,
    );
  } catch (err) {
    await Promise.all([grpc.shutdown(0), http?.close(0)]);
    await broker.close();
    throw err;
  }
  let closing: Promise<void> | undefined;
  return {
    grpcAddr: grpc.addr,
    httpAddr: http?.addr ?? "",
    broker,
    reload() {
      if (!auth) return;
      try {
        auth.reload();
        logger.info({ authFile: config.authFile, tokens: auth.names }, "auth file reloaded");
      } catch (err) {
        logger.error({ err: (err as Error).message }, "auth file not reloaded; the previous tokens stay");
      }
    },
    close() {
      closing ??= (async () => {
        // Deregister first, then give clients watching etcd a moment to stop
        // choosing this node before its streams end: pushes already on their
        // way are still answered.
        if (registration) {
          await registration.close();
          await new Promise((r) => setTimeout(r, DEREGISTER_GRACE_MS));
        }
        await Promise.all([grpc.shutdown(SHUTDOWN_GRACE_MS), http?.close(SHUTDOWN_GRACE_MS)]);
        await broker.close();
      })();
      return closing;
    },
  };
}
