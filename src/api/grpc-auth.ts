// Token auth at a gRPC call's metadata. The full check (the token's grants
// on the request's topic) needs the request, so it runs in the handlers; this
// server interceptor runs first, on the metadata alone, and refuses a call
// without a known token, or whose token may not do the RPC's action on any
// topic, before its request message is read or deserialized.
import * as grpc from "@grpc/grpc-js";
import type { BrokerError } from "../broker/index.js";
import { actionOfRpc, type Authorizer } from "./auth.js";
import type { ToGrpcStatus } from "./grpc-limits.js";

/** Checks calls to `service` (other services, such as health and reflection, stay open). */
export function tokenAtMetadata(auth: Authorizer, service: string, toStatus: ToGrpcStatus): grpc.ServerInterceptor {
  const prefix = `/${service}/`;
  return (method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, pass) {
            const action = method.path.startsWith(prefix) ? actionOfRpc(method.path.slice(prefix.length)) : undefined;
            if (action) {
              const v = metadata.get("authorization")[0];
              try {
                auth.authenticate(typeof v === "string" ? v : undefined, action);
              } catch (err) {
                call.sendStatus(toStatus(err as BrokerError, method.path.replace(/^\//, "")));
                return;
              }
            }
            pass(metadata);
          },
        });
      },
    });
}
