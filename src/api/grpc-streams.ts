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
import { ConsumeSession, OpenStreams, PushSession, SubscribeSession, type ConsumeMode, type StreamBroker, type StreamSink } from "./streams.js";

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
): GrpcStreamMethods {
  const { auth } = deps;
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
      );
      call.on("data", (raw: PushStreamRequest) => {
        let req: PushStreamRequest;
        try {
          req = decoded(raw);
        } catch (err) {
          // No seq to answer it by: the stream ends with the error, pushes already taken unanswered.
          session.close();
          sink.end(err);
          return;
        }
        session.write(req);
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
            const tokenName = auth?.authorizeRpc(authorizationOf(call), "Consume", kind.value);
            session = new ConsumeSession(broker, kind.value, GRPC_CONSUME, sink, open, limits, { peer: call.getPeer(), tokenName });
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
        auth?.authorizeRpc(authorizationOf(call), "Subscribe", request);
        session = new SubscribeSession(broker, request, sink, open, limits);
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
