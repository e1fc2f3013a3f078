// The gRPC face of the node: BrokerService (unary RPCs from handlers.ts plus
// the three streams), the standard health service, and server reflection.
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation, protoPath as healthProtoPath } from "grpc-health-check";
import { BrokerError, ErrorCode, invalid, type Broker, type Consumer } from "../broker/index.js";
import type { NodeConfig } from "../config.js";
import {
  BrokerServiceService,
  type BrokerServiceServer,
  type ConsumeRequest,
  type ConsumeResponse,
  type PushStreamRequest,
  type PushStreamResponse,
  type SubscribeRequest,
  type SubscribeResponse,
} from "../gen/gmq/v1/broker.js";
import type { Authorizer } from "./auth.js";
import { createUnaryHandlers, type CallContext, type HandlerLimits, type UnaryHandlers } from "./handlers.js";
import { msOf, toProtoMessage } from "./messages.js";
import { BROKER_PROTO, PROTO_INCLUDE_DIRS } from "./proto-files.js";
import { grpcStatusOf, toBrokerError } from "./status.js";

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
  limits: HandlerLimits & Pick<NodeConfig, "maxGrpcMessageBytes">;
  /** Health status at start; false while the node recovers (setServing(true) once it is ready). */
  serving?: boolean;
}

export interface RunningGrpcServer {
  /** The bound address (the real port when asked for port 0). */
  addr: string;
  /** Stops accepting calls, ends open streams, waits up to graceMs for calls to finish. */
  shutdown(graceMs: number): Promise<void>;
  /** Sets the health service's status (SERVING / NOT_SERVING). */
  setServing(serving: boolean): void;
}

const DEFAULT_BATCH_BYTES = 1024 * 1024;
/** Pushes awaiting durability on one PushStream before it stops reading (backpressure). */
const PUSH_STREAM_WINDOW = 4096;

export const SERVICE_NAME = "gmq.v1.BrokerService";

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

export async function startGrpcServer(options: GrpcServerOptions): Promise<RunningGrpcServer> {
  const { broker, logger, auth } = options;
  const authorizationOf = (call: { metadata: grpc.Metadata }): string | undefined => {
    const v = call.metadata.get("authorization")[0];
    return typeof v === "string" ? v : undefined;
  };
  const observe = options.observe ?? (() => {});
  const openStreams = new Set<() => void>();

  const toStatus = (err: unknown): grpc.StatusObject => {
    const e = toBrokerError(err);
    if (e.code === ErrorCode.INTERNAL) logger.error({ err: e.cause ?? err }, "internal error in RPC");
    return { code: grpcStatusOf(e.code), details: e.message, metadata: new grpc.Metadata() };
  };

  const handlers = createUnaryHandlers(broker, options.limits);
  const impl: Record<string, grpc.UntypedHandleCall> = {};
  for (const name of Object.keys(handlers) as (keyof UnaryHandlers)[]) {
    const fn = handlers[name] as (req: unknown, ctx: CallContext) => Promise<unknown>;
    impl[lowerFirst(name)] = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const started = performance.now();
      let signal: AbortSignal | undefined;
      if (name === "Pop") {
        const ac = new AbortController();
        call.once("cancelled", () => ac.abort());
        signal = ac.signal;
      }
      let result: Promise<unknown>;
      try {
        auth?.authorizeRpc(authorizationOf(call), name, call.request as object);
        result = fn(call.request, { signal });
      } catch (err) {
        result = Promise.reject(err);
      }
      result.then(
        (res) => {
          observe(name, (performance.now() - started) / 1000, grpc.status.OK);
          callback(null, res);
        },
        (err: unknown) => {
          const st = toStatus(err);
          observe(name, (performance.now() - started) / 1000, st.code);
          callback(st);
        },
      );
    };
  }

  const streams: Pick<BrokerServiceServer, "pushStream" | "consume" | "subscribe"> = {
    pushStream(call: grpc.ServerDuplexStream<PushStreamRequest, PushStreamResponse>) {
      const authorization = auth && authorizationOf(call);
      let pending = 0;
      let ended = false;
      const finishIfDone = () => {
        if (ended && pending === 0) call.end();
      };
      const reply = (res: PushStreamResponse) => {
        pending--;
        if (!call.destroyed && !call.writableEnded) call.write(res);
        if (pending < PUSH_STREAM_WINDOW / 2 && call.isPaused()) call.resume();
        finishIfDone();
      };
      call.on("data", (req: PushStreamRequest) => {
        pending++;
        if (pending >= PUSH_STREAM_WINDOW) call.pause();
        let delayMs: number;
        let ttlMs: number;
        try {
          auth?.authorize(authorization, "push", [req.topic]);
          delayMs = msOf(req.delayMs, "delay_ms");
          ttlMs = msOf(req.ttlMs, "ttl_ms");
        } catch (err) {
          const st = toStatus(err);
          reply({ seq: req.seq, id: 0n, errorCode: st.code, errorMessage: st.details, duplicate: false });
          return;
        }
        broker.push(req.topic, req.routeKey, req.body, delayMs, ttlMs, req.idempotencyKey).then(
          (r) => reply({ seq: req.seq, id: r.id, errorCode: 0, errorMessage: "", duplicate: r.duplicate }),
          (err: unknown) => {
            const st = toStatus(err);
            reply({ seq: req.seq, id: 0n, errorCode: st.code, errorMessage: st.details, duplicate: false });
          },
        );
      });
      call.on("end", () => {
        ended = true;
        finishIfDone();
      });
      // On shutdown: stop reading, answer every push already taken, then end,
      // so a producer knows exactly which pushes were stored.
      const stop = () => {
        call.pause();
        ended = true;
        finishIfDone();
      };
      openStreams.add(stop);
      call.on("close", () => openStreams.delete(stop));
      call.on("error", () => openStreams.delete(stop));
    },

    consume(call: grpc.ServerDuplexStream<ConsumeRequest, ConsumeResponse>) {
      let consumer: Consumer | undefined;
      let topic = "";
      let bindKey = "";
      const fail = (err: unknown) => {
        consumer?.close();
        consumer = undefined;
        if (!call.destroyed && !call.writableEnded) call.emit("error", toStatus(err));
      };
      const stop = () => {
        consumer?.close();
        if (!call.writableEnded) call.end();
      };
      openStreams.add(stop);
      call.on("data", (req: ConsumeRequest) => {
        try {
          const kind = req.kind;
          if (!kind) throw invalid("a ConsumeRequest must carry subscribe or update");
          if (kind.$case === "subscribe") {
            if (consumer) throw invalid("subscribe may only be sent once, as the first request");
            auth?.authorizeRpc(authorizationOf(call), "Consume", kind.value);
            ({ topic, bindKey } = kind.value);
            consumer = broker.consume(
              topic,
              bindKey,
              { maxInFlight: kind.value.maxInFlight, maxBatchBytes: kind.value.maxBatchBytes || DEFAULT_BATCH_BYTES },
              (batch) => {
                const messages = new Array(batch.length);
                for (let i = 0; i < batch.length; i++) messages[i] = toProtoMessage(topic, bindKey, batch[i]!);
                call.write({ messages });
              },
              (err?: BrokerError) => {
                consumer = undefined;
                if (err) fail(err);
                else if (!call.writableEnded) call.end();
              },
            );
            return;
          }
          if (!consumer) throw invalid("the first ConsumeRequest must be subscribe");
          const u = kind.value;
          if (u.ackIds.length > 0) consumer.ack(u.ackIds);
          if (u.nackIds.length > 0) consumer.nack(u.nackIds);
          if (u.touchIds.length > 0) consumer.touch(u.touchIds);
          if (u.credit > 0) consumer.grant(u.credit);
        } catch (err) {
          fail(err);
        }
      });
      const done = () => {
        openStreams.delete(stop);
        consumer?.close();
        consumer = undefined;
      };
      call.on("end", () => {
        done();
        if (!call.writableEnded) call.end();
      });
      call.on("cancelled", done);
      call.on("close", done);
      call.on("error", done);
    },

    subscribe(call: grpc.ServerWritableStream<SubscribeRequest, SubscribeResponse>) {
      let unsubscribe: (() => void) | undefined;
      try {
        auth?.authorizeRpc(authorizationOf(call), "Subscribe", call.request);
        unsubscribe = broker.subscribe(call.request.channels, (channel, body, at) => {
          call.write({ channel, body, publishedAtMs: BigInt(at) });
        });
      } catch (err) {
        call.emit("error", toStatus(err));
        return;
      }
      const stop = () => {
        unsubscribe?.();
        if (!call.writableEnded) call.end();
      };
      openStreams.add(stop);
      const done = () => {
        openStreams.delete(stop);
        unsubscribe?.();
      };
      call.on("cancelled", done);
      call.on("close", done);
      call.on("error", done);
    },
  };

  const server = new grpc.Server({
    "grpc.max_receive_message_length": options.limits.maxGrpcMessageBytes,
    "grpc.max_send_message_length": options.limits.maxGrpcMessageBytes,
  });
  server.addService(BrokerServiceService, { ...impl, ...streams } as unknown as BrokerServiceServer);

  const initial = options.serving === false ? "NOT_SERVING" : "SERVING";
  const health = new HealthImplementation({ "": initial, [SERVICE_NAME]: initial });
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
    setServing(serving) {
      for (const name of ["", SERVICE_NAME]) health.setStatus(name, serving ? "SERVING" : "NOT_SERVING");
    },
    async shutdown(graceMs) {
      health.setStatus("", "NOT_SERVING");
      health.setStatus(SERVICE_NAME, "NOT_SERVING");
      const drained = new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      for (const stop of [...openStreams]) stop();
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
