// Limits the gRPC server applies to every call before a handler runs.
//
// Request metadata: grpc-js 1.14 has no server-side `grpc.max_metadata_size`
// and lifts Node's HTTP/2 header memory limit, so a call with 100 KB of
// metadata reached the handlers. Here it is refused at once with
// RESOURCE_EXHAUSTED (reason METADATA_TOO_LARGE), a message naming the limit,
// from a server interceptor (the public hook grpc-js offers). One header field
// over 64 KiB never gets this far: Node's HTTP/2 decoder (nghttp2) refuses it
// with an HTTP/2 COMPRESSION_ERROR; a grpc-js client then fails at once
// (INTERNAL), while grpcio retries the call transparently until its deadline.
import * as grpc from "@grpc/grpc-js";
import { BrokerError, ErrorReason } from "../broker/index.js";

/** Like the HTTP/2 header list size: name and value octets plus 32 per field. */
export const MAX_METADATA_BYTES = 16 * 1024;

export function metadataBytes(metadata: grpc.Metadata): number {
  let bytes = 0;
  for (const [key, values] of Object.entries(metadata.toJSON())) {
    for (const v of values) bytes += key.length + (typeof v === "string" ? Buffer.byteLength(v) : v.length) + 32;
  }
  return bytes;
}

/** Turns a refusal into the call's status (status.ts grpcStatusOf); method is the RPC's path without the leading slash. */
export type ToGrpcStatus = (err: BrokerError, method: string) => grpc.StatusObject;

/** A server interceptor refusing calls whose request metadata exceeds maxBytes. */
export function metadataLimit(toStatus: ToGrpcStatus, maxBytes: number = MAX_METADATA_BYTES): grpc.ServerInterceptor {
  return (method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, pass) {
            const bytes = metadataBytes(metadata);
            if (bytes <= maxBytes) {
              pass(metadata);
              return;
            }
            const err = new BrokerError(ErrorReason.METADATA_TOO_LARGE, `request metadata is ${bytes} bytes; this node accepts at most ${maxBytes}`, {
              metadata: { limit: String(maxBytes) },
            });
            call.sendStatus(toStatus(err, method.path.replace(/^\//, "")));
          },
        });
      },
    });
}
