// The unary RPCs over gRPC: each method of BrokerService is the in-process
// handler of handlers.ts of the same name, with auth, cancellation (Pop),
// status mapping and latency metrics around it. The service's type is derived
// from the handlers, so an RPC without a handler does not compile.
import * as grpc from "@grpc/grpc-js";
import type { ErrorReason } from "../broker/index.js";
import type { Authorizer } from "./auth.js";
import { decoded } from "./grpc-decode.js";
import { NEEDS_CALLER, type CallContext, type ReplyOf, type RequestOf, type RpcName, type Unary, type UnaryHandlers } from "./handlers.js";

/** The unary half of BrokerServiceServer, one method per handler. */
export type GrpcUnaryMethods = { [K in RpcName as Uncapitalize<K>]: grpc.handleUnaryCall<RequestOf<K>, ReplyOf<K>> };

export interface GrpcCallDeps {
  /** Any thrown value as the status to end the call `rpc` (e.g. "Pop") with, its reason in the details trailer (status.ts's grpcStatusOf). */
  toStatus(err: unknown, rpc: string): grpc.StatusObject & { reason: ErrorReason };
  /** Token auth; every call is open without it. */
  auth?: Authorizer;
  /** Called once per finished RPC, for metrics. */
  observe(method: string, seconds: number, code: grpc.status): void;
}

/** The caller's `authorization` metadata (its token), if any. */
export function authorizationOf(call: { metadata: grpc.Metadata }): string | undefined {
  const v = call.metadata.get("authorization")[0];
  return typeof v === "string" ? v : undefined;
}

function unaryMethod<Req, Res>(name: RpcName, handler: Unary<Req, Res>, deps: GrpcCallDeps): grpc.handleUnaryCall<Req, Res> {
  const { auth, observe, toStatus } = deps;
  // Only a long poll waits on its caller, so only Pop gets a signal.
  const wantsSignal = name === "Pop";
  const wantsCaller = NEEDS_CALLER.has(name);
  return (call, callback) => {
    const started = performance.now();
    let signal: AbortSignal | undefined;
    if (wantsSignal) {
      const ac = new AbortController();
      call.once("cancelled", () => ac.abort());
      signal = ac.signal;
    }
    let result: Promise<Res>;
    try {
      const request = decoded<Req>(call.request);
      const tokenName = auth?.authorizeRpc(authorizationOf(call), name, request as object);
      const ctx: CallContext = wantsCaller ? { signal, peer: call.getPeer(), authorization: authorizationOf(call), tokenName } : { signal };
      result = handler(request, ctx);
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      (res) => {
        observe(name, (performance.now() - started) / 1000, grpc.status.OK);
        callback(null, res);
      },
      (err: unknown) => {
        const st = toStatus(err, name);
        observe(name, (performance.now() - started) / 1000, st.code);
        callback(st);
      },
    );
  };
}

export function grpcUnaryMethods(h: UnaryHandlers, deps: GrpcCallDeps): GrpcUnaryMethods {
  const u = <Req, Res>(name: RpcName, fn: Unary<Req, Res>) => unaryMethod(name, fn, deps);
  return {
    config: u("Config", h.Config),
    declareQueue: u("DeclareQueue", h.DeclareQueue),
    deleteQueue: u("DeleteQueue", h.DeleteQueue),
    listTopics: u("ListTopics", h.ListTopics),
    listQueues: u("ListQueues", h.ListQueues),
    getTopicStat: u("GetTopicStat", h.GetTopicStat),
    push: u("Push", h.Push),
    pushBatch: u("PushBatch", h.PushBatch),
    pop: u("Pop", h.Pop),
    ack: u("Ack", h.Ack),
    nack: u("Nack", h.Nack),
    touch: u("Touch", h.Touch),
    popDead: u("PopDead", h.PopDead),
    listDead: u("ListDead", h.ListDead),
    redrive: u("Redrive", h.Redrive),
    publish: u("Publish", h.Publish),
    ping: u("Ping", h.Ping),
    deleteTopic: u("DeleteTopic", h.DeleteTopic),
    getHistory: u("GetHistory", h.GetHistory),
    listNodes: u("ListNodes", h.ListNodes),
    getMessage: u("GetMessage", h.GetMessage),
    peek: u("Peek", h.Peek),
    delete: u("Delete", h.Delete),
    reschedule: u("Reschedule", h.Reschedule),
    purgeQueue: u("PurgeQueue", h.PurgeQueue),
    traceMessage: u("TraceMessage", h.TraceMessage),
  };
}
