// The three BrokerService streams over gRPC. Each call becomes a session of
// streams.ts writing to the call; this file only reads the call's requests,
// writes replies and maps errors to statuses.
import type * as grpc from "@grpc/grpc-js";
import { malformed } from "../broker/index.js";
import type { BrokerServiceServer, ConsumeRequest, PushStreamRequest } from "../gen/gmq/v1/broker.js";
import type { UnaryHandlers } from "./handlers.js";
import { decoded } from "./grpc-decode.js";
import { authorizationOf, type GrpcCallDeps } from "./grpc-unary.js";
import type { StreamLimits } from "./stream-limits.js";
import type { ConsumerBoard } from "./consumers.js";
import { NO_STREAM_METER, type StreamMeter } from "./stream-meter.js";
import { ConsumeSession, OpenStreams, PushSession, SubscribeSession, type ConsumeMode, type StreamBroker, type StreamSink, type StreamWatch } from "./streams.js";

export type GrpcStreamMethods = Pick<BrokerServiceServer, "pushStream" | "consume" | "subscribe">;

/** Acks, nacks and credit come back on the stream itself (ConsumeUpdate). */
const GRPC_CONSUME: ConsumeMode = { ackOnSend: false, creditOnStream: true };

/** A call as a sink: replies go out as messages, an error as the call's status. */
function callSink<T>(
  call: grpc.ServerWritableStream<unknown, T> | grpc.ServerDuplexStream<unknown, T>,
  rpc: "PushStream" | "Consume" | "Subscribe",
  deps: GrpcCallDeps,
): StreamSink<T> {
  return {
    write(reply, sent) {
      if (call.destroyed || call.writableEnded) return;
      call.write(reply, sent);
    },
    end(err) {
      if (call.destroyed || call.writableEnded) return;
      // grpc-js sends the status once the messages already written have gone out.
      if (err === undefined) call.end();
      else call.emit("error", deps.toStatus(err, rpc));
    },
  };
}

export function grpcStreamMethods(
  broker: StreamBroker,
  push: UnaryHandlers["Push"],
  deps: GrpcCallDeps,
  open: OpenStreams,
  limits: StreamLimits,
  observers: { meter?: StreamMeter; consumers?: ConsumerBoard } = {},
): GrpcStreamMethods {
  const { auth } = deps;
  const meter = observers.meter ?? NO_STREAM_METER;
  const watchOf = (call: { getPeer(): string }, recheck?: () => void): StreamWatch => ({ protocol: "grpc", peer: call.getPeer(), meter, consumers: observers.consumers, recheck });
  return {
    pushStream(call) {
      const authorization = auth && authorizationOf(call);
      const sink = callSink(call, "PushStream", deps);
      const session = new PushSession(
        push,
        (req) => auth?.authorizeRpc(authorization, "PushStream", req),
        (err) => {
          const st = deps.toStatus(err, "PushStream");
          return { code: st.code, message: st.details, reason: st.reason };
        },
        sink,
        {
          pause: () => call.pause(),
          resume: () => {
            if (call.isPaused()) call.resume();
          },
        },
        open,
        watchOf(call, auth && (() => auth.authenticate(authorization, "push"))),
      );
      call.on("data", (raw: PushStreamRequest) => {
        if (call.writableEnded) return; // ended with an error; the rest is not read
        try {
          session.write(decoded(raw));
        } catch (err) {
          // No seq to answer it by: the stream ends with the error, pushes already taken unanswered.
          session.close();
          sink.end(err);
        }
      });
      call.on("end", () => session.finish());
      call.on("close", () => session.close());
      call.on("error", () => session.close());
    },

    consume(call) {
      const sink = callSink(call, "Consume", deps);
      let session: ConsumeSession | undefined;
      call.on("data", (raw: ConsumeRequest) => {
        if (call.writableEnded) return; // ended with an error; the rest is not read
        try {
          const kind = decoded(raw).kind;
          if (!kind) throw malformed("a ConsumeRequest must carry subscribe or update");
          if (kind.$case === "subscribe") {
            if (session) throw malformed("subscribe may only be sent once, as the first request");
            const authorization = authorizationOf(call);
            const subscribe = kind.value;
            const recheck = auth && (() => auth.authorizeRpc(authorization, "Consume", subscribe));
            const tokenName = recheck?.();
            session = new ConsumeSession(broker, subscribe, GRPC_CONSUME, sink, open, limits, watchOf(call, recheck), tokenName);
            return;
          }
          if (!session) throw malformed("the first ConsumeRequest must be subscribe");
          session.update(kind.value);
        } catch (err) {
          if (session) session.end(err);
          else sink.end(err);
        }
      });
      call.on("end", () => (session ? session.end() : sink.end()));
      const gone = () => session?.close();
      call.on("cancelled", gone);
      call.on("close", gone);
      call.on("error", gone);
    },

    subscribe(call) {
      const sink = callSink(call, "Subscribe", deps);
      let session: SubscribeSession;
      try {
        const request = decoded(call.request);
        const authorization = authorizationOf(call);
        const recheck = auth && (() => auth.authorizeRpc(authorization, "Subscribe", request));
        recheck?.();
        session = new SubscribeSession(broker, request, sink, open, limits, watchOf(call, recheck));
      } catch (err) {
        sink.end(err);
        return;
      }
      const gone = () => session.close();
      call.on("cancelled", gone);
      call.on("close", gone);
      call.on("error", gone);
    },
  };
}
