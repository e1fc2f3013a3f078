// The gRPC face of the node: BrokerService (the unary adapter of
// grpc-unary.ts and the stream adapters of grpc-streams.ts), the standard
// health service, and server reflection.
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation, protoPath as healthProtoPath } from "grpc-health-check";
import { BrokerError, ErrorCode, type Broker } from "../broker/index.js";
import type { NodeConfig } from "../config.js";
import { BrokerServiceService, type BrokerServiceServer } from "../gen/gmq/v1/broker.js";
import type { Authorizer } from "./auth.js";
import { withTotalDeserializers } from "./grpc-decode.js";
import { grpcStreamMethods } from "./grpc-streams.js";
import { grpcUnaryMethods, type GrpcCallDeps } from "./grpc-unary.js";
import { createUnaryHandlers, type HandlerLimits } from "./handlers.js";
import { BROKER_PROTO, PROTO_INCLUDE_DIRS } from "./proto-files.js";
import { toGrpcStatus } from "./status.js";
import { streamLimitsOf, type LimitRejected, type StreamLimits } from "./stream-limits.js";
import { OpenStreams } from "./streams.js";

export interface GrpcLogger {
  error(obj: object, msg: string): void;
}

export interface GrpcServerOptions {
  broker: Broker;
  addr: string;
  logger: GrpcLogger;
  credentials?: grpc.ServerCredentials;
  /** Token auth; every call is open without it. */
  auth?: Authorizer;
  /** Called once per finished RPC, for metrics. */
  observe?: (method: string, seconds: number, code: grpc.status) => void;
  limits: Omit<HandlerLimits, "rejected"> & Omit<StreamLimits, "rejected"> & Pick<NodeConfig, "grpcMaxConnectionIdleMs" | "grpcMaxConcurrentStreams">;
  /** Counts requests refused or cut by a limit (gmq_limit_rejections_total). */
  limitRejected?: LimitRejected;
}

export interface RunningGrpcServer {
  /** The bound address (the real port when asked for port 0). */
  addr: string;
  /** Stops accepting calls, ends open streams, waits up to graceMs for calls to finish. */
  shutdown(graceMs: number): Promise<void>;
}

export const SERVICE_NAME = "gmq.v1.BrokerService";

export async function startGrpcServer(options: GrpcServerOptions): Promise<RunningGrpcServer> {
  const { broker, logger, auth } = options;
  const openStreams = new OpenStreams();
  const deps: GrpcCallDeps = {
    toStatus: (err) => toGrpcStatus(err, logger),
    auth,
    observe: options.observe ?? (() => {}),
  };
  const handlers = createUnaryHandlers(broker, { ...options.limits, rejected: options.limitRejected });
  const service: BrokerServiceServer = {
    ...grpcUnaryMethods(handlers, deps),
    ...grpcStreamMethods(broker, handlers.Push, deps, openStreams, streamLimitsOf(options.limits, options.limitRejected)),
  };

  const server = new grpc.Server({
    "grpc.max_receive_message_length": options.limits.maxGrpcMessageBytes,
    "grpc.max_send_message_length": options.limits.maxGrpcMessageBytes,
    // A connection with no call for this long gets GOAWAY, so idle connections do not pile up.
    "grpc.max_connection_idle_ms": options.limits.grpcMaxConnectionIdleMs,
    "grpc.max_concurrent_streams": options.limits.grpcMaxConcurrentStreams,
  });
  server.addService(withTotalDeserializers(BrokerServiceService), service);

  const health = new HealthImplementation({ "": "SERVING", [SERVICE_NAME]: "SERVING" });
  health.addToServer(server);
  const packageDefinition = protoLoader.loadSync([BROKER_PROTO, healthProtoPath], {
    includeDirs: PROTO_INCLUDE_DIRS,
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  new ReflectionService(packageDefinition).addToServer(server);

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(options.addr, options.credentials ?? grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(new BrokerError(ErrorCode.UNAVAILABLE, `cannot listen for gRPC on ${options.addr}: ${err.message}`)) : resolve(p),
    );
  });
  const host = options.addr.slice(0, options.addr.lastIndexOf(":"));

  return {
    addr: `${host}:${port}`,
    async shutdown(graceMs) {
      health.setStatus("", "NOT_SERVING");
      health.setStatus(SERVICE_NAME, "NOT_SERVING");
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
