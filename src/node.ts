// Composition of one node: storage -> broker -> gRPC (and, when configured,
// the HTTP gateway and cluster registration). Used by main.ts and by tests
// that need a node in process.
import { loadAuthFile } from "./api/auth.js";
import { startGrpcServer, type RunningGrpcServer } from "./api/grpc-server.js";
import { ConsumerBoard } from "./api/consumers.js";
import { createUnaryHandlers } from "./api/handlers.js";
import { startHistorySampling, StatsHistory } from "./api/history.js";
import type { ClusterDirectory } from "./api/node-views.js";
import { startHttpServer, type RunningHttpServer } from "./api/http-server.js";
import { rateLimited } from "./api/log-limit.js";
import { createNodeMetrics, grpcObserver, registerTlsCertificateExpiry } from "./api/metrics.js";
import { certificateExpiry, loadTls, secureContextOptions, type TlsMaterial } from "./api/tls.js";
import { Broker, BrokerError, ErrorReason, NO_STORAGE_STATS, systemClock, type Clock } from "./broker/index.js";
import { joinCluster } from "./cluster/join.js";
import type { Registration } from "./cluster/registration.js";
import { specOf, type NodeConfig } from "./config.js";
import type { Logger } from "./log.js";
import { openStorageYielding } from "./store/index.js";
import { VERSION } from "./version.js";

export interface RunningNode {
  grpcAddr: string;
  httpAddr: string;
  broker: Broker;
  /** Re-reads what can change without a restart (the auth file, TLS files); logs what it did. */
  reload(): void;
  /** Graceful stop: refuse new calls, end streams, let calls finish, flush storage. */
  close(): Promise<void>;
}

const SHUTDOWN_GRACE_MS = 5_000;
/** Between leaving etcd and closing the servers (cluster mode only). */
const DEREGISTER_GRACE_MS = 500;

/** Test seams of the start sequence. */
export interface StartHooks {
  /** Awaited once the servers listen, before the data dir is recovered (the node answers /readyz 503 meanwhile). */
  beforeRecovery?: () => Promise<void>;
}

/**
 * The broker as the servers see it from the moment they listen: while the
 * data dir is recovered, every method fails with UNAVAILABLE / RECOVERING and
 * isReady() is false; open() then puts the broker's own methods, bound once,
 * in their place. A plain object rather than a Proxy, so once recovered a call
 * costs what a call on the broker costs (no trap and lookup per call).
 */
function lateBroker(): { broker: Broker; open(broker: Broker): void } {
  const late: Record<string, unknown> = {};
  const proto = Broker.prototype as unknown as Record<string, unknown>;
  const methods = Object.getOwnPropertyNames(proto).filter((name) => name !== "constructor" && typeof proto[name] === "function");
  const recovering = () => {
    throw new BrokerError(ErrorReason.RECOVERING, "the node is recovering its data; try again shortly");
  };
  for (const name of methods) late[name] = recovering;
  late.isReady = () => false;
  Object.defineProperty(late, "startedAtMs", { get: recovering, configurable: true });
  return {
    broker: late as unknown as Broker,
    open(broker) {
      const own = broker as unknown as Record<string, (...args: unknown[]) => unknown>;
      for (const name of methods) late[name] = own[name]!.bind(broker);
      Object.defineProperty(late, "startedAtMs", { value: broker.startedAtMs });
    },
  };
}

export async function startNode(config: NodeConfig, logger: Logger, hooks: StartHooks = {}): Promise<RunningNode> {
  // Read before anything opens, so a bad auth file fails the start and touches no data.
  // One clock for the store and the broker (tests drive a manual one in process).
  const clock = systemClock;
  // Refusals are counted and logged, at most one line per 10 s: a client can cause them at will.
  const refusalLog = rateLimited(10_000, clock.now);
  const auth = config.authFile
    ? loadAuthFile(config.authFile, (err) => {
        metrics?.authRefused(err.reason);
        refusalLog((suppressed) => logger.warn({ reason: err.reason, err: err.message, suppressed }, "auth: request refused"));
      })
    : undefined;
  if (auth) logger.info({ authFile: config.authFile, tokens: auth.names }, "token auth on");
  let tls = loadTls(config);
  if (tls) logCertificate(tls, logger, clock);
  // The servers listen first, so operators see /readyz 503 (and gRPC health
  // NOT_SERVING) while a large data dir is recovered, not a closed port.
  let broker: Broker | undefined;
  let storage: Awaited<ReturnType<typeof openStorageYielding>> | undefined;
  const late = lateBroker();
  const metrics = config.metrics
    ? createNodeMetrics({ topicNames: () => broker?.topicNames() ?? [], topicStat: (name) => broker?.topicStatIfAny(name), storageStats: () => storage?.stats() ?? NO_STORAGE_STATS })
    : undefined;
  // Requests refused or cut by a limit, counted by the limit's flag (gmq_limit_rejections_total).
  const limitRejected = (key: keyof NodeConfig) => metrics?.limitRejected(specOf(key).flag);
  if (metrics && tls) registerTlsCertificateExpiry(metrics, () => tls!.notAfterMs);
  const consumers = new ConsumerBoard(clock.now);
  const history = config.historyMaxSeries > 0 ? new StatsHistory({ maxSeries: config.historyMaxSeries, now: clock.now }) : undefined;
  let registration: Registration | undefined;
  let bound = { grpcAddr: "", httpAddr: "" };
  const cluster: ClusterDirectory = {
    self: () => {
      const info = late.broker.info();
      return {
        nodeId: config.nodeId,
        weight: config.nodeWeight,
        grpcAddr: config.advertiseGrpcAddr || bound.grpcAddr,
        httpAddr: config.advertiseHttpAddr || bound.httpAddr,
        version: VERSION,
        startedAtMs: info.startedAtMs,
      };
    },
    list: () => registration?.nodes(),
    scheme: tls ? "https" : "http",
  };
  const handlers = createUnaryHandlers(late.broker, { ...config, rejected: limitRejected }, { consumers, history, cluster });
  const grpc = await startGrpcServer({
    broker: late.broker,
    addr: config.grpcAddr,
    logger,
    tls,
    auth,
    observe: grpcObserver(metrics),
    limits: config,
    limitRejected,
    serving: false,
    onTlsError: tlsFailureLog("grpc", logger, clock),
    handlers,
    streamMeter: metrics?.streams,
    consumers,
  });
  let http: RunningHttpServer | undefined;
  let stopSampling: (() => void) | undefined;
  try {
    if (config.httpAddr) {
      http = await startHttpServer({ config, broker: late.broker, handlers, metrics, limitRejected, logger, version: VERSION, auth, consumers });
    }
    bound = { grpcAddr: grpc.addr, httpAddr: http?.addr ?? "" };
    logger.info({ grpcAddr: grpc.addr, httpAddr: http?.addr ?? "", dataDir: config.dataDir }, "recovering");
    await hooks.beforeRecovery?.();
    storage = await openStorageYielding({
      clock,
      dataDir: config.dataDir,
      segmentBytes: config.segmentBytes,
      maxBodyBytes: config.maxBodyBytes,
      fsync: config.fsync,
      fsyncIntervalMs: config.fsyncIntervalMs,
      logger,
    });
    broker = Broker.open({
      storage,
      clock,
      nodeId: config.nodeId,
      version: VERSION,
      maxBodyBytes: config.maxBodyBytes,
      maxPushFanoutBytes: config.maxPushFanoutBytes,
      limitRejected,
      logger,
    });
    late.open(broker);
    logger.info({ recoveryMs: Math.round(storage.stats().recoveryMs) }, "recovered");
    grpc.setServing(true);
    const sampled = broker;
    if (history) stopSampling = startHistorySampling(history, () => sampled.allTopicStats(), clock);
    // Registered only once the servers listen and the data is recovered; refused (and torn down) when a live node holds our id.
    const open = broker;
    registration = await joinCluster(
      config,
      { grpcAddr: grpc.addr, httpAddr: http?.addr ?? "" },
      { version: VERSION, startedAtMs: open.startedAtMs },
      logger,
    );
  } catch (err) {
    stopSampling?.();
    await Promise.all([grpc.shutdown(0), http?.close(0)]);
    if (broker) await broker.close();
    else await storage?.close();
    throw err;
  }
  const running = broker;
  let closing: Promise<void> | undefined;
  return {
    grpcAddr: grpc.addr,
    httpAddr: http?.addr ?? "",
    broker: running,
    reload() {
      if (tls) {
        try {
          const next = loadTls(config)!;
          grpc.setTls(next);
          (http?.server as { setSecureContext?(o: object): void } | undefined)?.setSecureContext?.(secureContextOptions(next));
          tls = next;
          logCertificate(next, logger, clock, "TLS certificate, key and client CA reloaded");
        } catch (err) {
          logger.error({ err: (err as Error).message }, "TLS files not reloaded; the previous certificate stays");
        }
      }
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
        stopSampling?.();
        await Promise.all([grpc.shutdown(SHUTDOWN_GRACE_MS), http?.close(SHUTDOWN_GRACE_MS)]);
        await running.close();
      })();
      return closing;
    },
  };
}

/** Logs failed TLS handshakes at warn, at most once per 10 s with the count of those left out (a client can cause them at will). */
function tlsFailureLog(label: string, logger: Logger, clock: Clock): (err: Error, remote: string | undefined) => void {
  const limit = rateLimited(10_000, clock.now);
  return (err, remote) => limit((suppressed) => logger.warn({ err: err.message, remote, suppressed }, `${label}: TLS handshake failed`));
}

function logCertificate(tls: TlsMaterial, logger: Logger, clock: Clock, msg = "TLS on"): void {
  const { secondsLeft, warning } = certificateExpiry(tls, clock.now());
  const fields = { subject: tls.subject, notAfter: new Date(tls.notAfterMs).toISOString(), daysLeft: Math.floor(secondsLeft / 86_400), mutualTls: Boolean(tls.clientCa) };
  if (warning) logger.warn(fields, `${msg}: ${warning}`);
  else logger.info(fields, msg);
}
