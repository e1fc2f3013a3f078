// The gRPC face of the node: BrokerService (the unary adapter of
// grpc-unary.ts and the stream adapters of grpc-streams.ts), the standard
// health service, and server reflection.
import type { AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";
import type { Broker } from "../broker/index.js";
import type { NodeConfig } from "../config.js";
import { BrokerServiceService, type BrokerServiceServer } from "../gen/gmq/v1/broker.js";
import { serializeConsumeResponse } from "./consume-wire.js";
import { decodePushStreamRequest, encodePushStreamResponse } from "./push-stream-wire.js";
import type { Authorizer } from "./auth.js";
import { withTotalDeserializers } from "./grpc-decode.js";
import { decodePushBatchRequest, encodePushBatchResponse } from "./push-batch-wire.js";
import { tokenAtMetadata } from "./grpc-auth.js";
import { metadataLimit } from "./grpc-limits.js";
import { createGrpcListener } from "./grpc-listener.js";
import { healthProtoPath, LazyHealth } from "./grpc-health.js";
import { addLazyReflection } from "./grpc-reflection.js";
import { grpcStreamMethods } from "./grpc-streams.js";
import { grpcUnaryMethods, type GrpcCallDeps } from "./grpc-unary.js";
import type { ConsumerBoard } from "./consumers.js";
import { createUnaryHandlers, type HandlerLimits, type UnaryHandlers } from "./handlers.js";
import type { StreamMeter } from "./stream-meter.js";
import { BROKER_PROTO, PROTO_INCLUDE_DIRS } from "./proto-files.js";
import { grpcStatusOf } from "./status.js";
import { streamLimitsOf, type LimitRejected, type StreamLimits } from "./stream-limits.js";
import { OpenStreams } from "./streams.js";
import type { TlsMaterial } from "./tls.js";

export interface GrpcLogger {
  error(obj: object, msg: string): void;
}

export interface GrpcServerOptions {
  broker: Broker;
  addr: string;
  logger: GrpcLogger;
  /** TLS on the port (mutual TLS with a client CA); plaintext without it. */
  tls?: TlsMaterial;
  /** A failed TLS handshake, for the node's rate-limited log. */
  onTlsError?: (err: Error, remote: string | undefined) => void;
  /** Token auth; every call is open without it. */
  auth?: Authorizer;
  /** Called once per finished RPC, for metrics. */
  observe?: (method: string, seconds: number, code: grpc.status) => void;
  limits: Omit<HandlerLimits, "rejected"> & Omit<StreamLimits, "rejected"> & Pick<
      NodeConfig,
      "maxGrpcMessageBytes" | "grpcMaxConnectionIdleMs" | "grpcMaxConcurrentStreams" | "maxGrpcConnections" | "grpcHandshakeTimeoutMs"
    >;
  /** Counts requests refused or cut by a limit (gmq_limit_rejections_total). */
  limitRejected?: LimitRejected;
  /** Health status at start; false while the node recovers (setServing(true) once it is ready). */
  serving?: boolean;
  /** The unary handlers, shared with the gateway (node.ts); made here from broker and limits when absent. */
  handlers?: UnaryHandlers;
  /** Counts stream messages and bytes (gmq_stream_*). */
  streamMeter?: StreamMeter;
  /** Where Consume streams list themselves. */
  consumers?: ConsumerBoard;
}

export interface RunningGrpcServer {
  /** The bound address (the real port when asked for port 0). */
  addr: string;
  /** Stops accepting calls, ends open streams, waits up to graceMs for calls to finish. */
  shutdown(graceMs: number): Promise<void>;
  /** Sets the health service's status (SERVING / NOT_SERVING). */
  setServing(serving: boolean): void;
  /** New TLS handshakes use tls from now on (SIGHUP); open connections stay. */
  setTls(tls: TlsMaterial): void;
}

export const SERVICE_NAME = "gmq.v1.BrokerService";

export async function startGrpcServer(options: GrpcServerOptions): Promise<RunningGrpcServer> {
  const { broker, logger, auth } = options;
  const openStreams = new OpenStreams();
  // A reload that removes a token or narrows its grants ends the streams it opened.
  auth?.onReload(() => openStreams.recheck());
  const deps: GrpcCallDeps = {
    toStatus: (err, rpc) => grpcStatusOf(err, logger, `${SERVICE_NAME}/${rpc}`),
    auth,
    observe: options.observe ?? (() => {}),
  };
  const handlers = options.handlers ?? createUnaryHandlers(broker, { ...options.limits, rejected: options.limitRejected });
  const service: BrokerServiceServer = {
    ...grpcUnaryMethods(handlers, deps),
    ...grpcStreamMethods(broker, handlers.Push, deps, openStreams, streamLimitsOf(options.limits, options.limitRejected), {
      meter: options.streamMeter,
      consumers: options.consumers,
    }),
  };

  const server = new grpc.Server({
    // Before any handler (BrokerService, health, reflection): refused with a reason through status.ts.
    interceptors: [
      metadataLimit((err, method) => grpcStatusOf(err, logger, method)),
      // Then an unauthenticated call is refused before its request is read.
      ...(auth ? [tokenAtMetadata(auth, SERVICE_NAME, (err, method) => grpcStatusOf(err, logger, method))] : []),
    ],
    "grpc.max_receive_message_length": options.limits.maxGrpcMessageBytes,
    "grpc.max_send_message_length": options.limits.maxGrpcMessageBytes,
    // A connection with no call for this long gets GOAWAY, so idle connections do not pile up.
    "grpc.max_connection_idle_ms": options.limits.grpcMaxConnectionIdleMs,
    "grpc.max_concurrent_streams": options.limits.grpcMaxConcurrentStreams,
  });
  // The per-message paths go through hand codecs: PushStream and PushBatch both ways (push-stream-wire.ts,
  // push-batch-wire.ts), deliveries out (consume-wire.ts).
  const pushStream = { ...BrokerServiceService.pushStream, requestDeserialize: decodePushStreamRequest, responseSerialize: encodePushStreamResponse };
  const pushBatch = { ...BrokerServiceService.pushBatch, requestDeserialize: decodePushBatchRequest, responseSerialize: encodePushBatchResponse };
  const consume = { ...BrokerServiceService.consume, responseSerialize: serializeConsumeResponse };
  server.addService(withTotalDeserializers({ ...BrokerServiceService, pushStream, pushBatch, consume }), service);

  const initial = options.serving === false ? "NOT_SERVING" : "SERVING";
  const health = new LazyHealth({ "": initial, [SERVICE_NAME]: initial });
  health.addToServer(server);
  addLazyReflection(server, [BROKER_PROTO, healthProtoPath], PROTO_INCLUDE_DIRS);

  // Connections are accepted by our own listener (cap, handshake deadline, TLS) and handed to grpc-js.
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const listener = createGrpcListener({
    injector,
    tls: options.tls,
    maxConnections: options.limits.maxGrpcConnections,
    handshakeTimeoutMs: options.limits.grpcHandshakeTimeoutMs,
    rejected: (why) => options.limitRejected?.(why === "max" ? "maxGrpcConnections" : "grpcHandshakeTimeoutMs"),
    onTlsError: options.onTlsError,
  });
  const at = options.addr.lastIndexOf(":");
  const host = options.addr.slice(0, at);
  await new Promise<void>((resolve, reject) => {
    const failed = (err: Error) => reject(new Error(`cannot listen for gRPC on ${options.addr}: ${err.message}`, { cause: err }));
    listener.server.once("error", failed);
    listener.server.listen(Number(options.addr.slice(at + 1)), host.replace(/^\[|\]$/g, ""), () => {
      listener.server.off("error", failed);
      resolve();
    });
  });
  const port = (listener.server.address() as AddressInfo).port;

  return {
    addr: `${host}:${port}`,
    setTls: (tls) => listener.setTls(tls),
    setServing(serving) {
      for (const name of ["", SERVICE_NAME]) health.setStatus(name, serving ? "SERVING" : "NOT_SERVING");
    },
    async shutdown(graceMs) {
      health.setStatus("", "NOT_SERVING");
      health.setStatus(SERVICE_NAME, "NOT_SERVING");
      listener.close();
      const drained = new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      openStreams.closeAll();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
      });
      await Promise.race([drained, timedOut]);
      clearTimeout(timer);
    },
  };
}
