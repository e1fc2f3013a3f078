// The two places where a BrokerError becomes a wire status: gRPC and HTTP.
// Both switches are exhaustive over ErrorCode, so a new code will not compile
// until it is mapped here.
import { Metadata, status, type StatusObject } from "@grpc/grpc-js";
import { BrokerError, ErrorCode } from "../broker/index.js";

export function grpcStatusOf(code: ErrorCode): status {
  switch (code) {
    case ErrorCode.INVALID_ARGUMENT:
      return status.INVALID_ARGUMENT;
    case ErrorCode.NOT_FOUND:
      return status.NOT_FOUND;
    case ErrorCode.ALREADY_EXISTS:
      return status.ALREADY_EXISTS;
    case ErrorCode.FAILED_PRECONDITION:
      return status.FAILED_PRECONDITION;
    case ErrorCode.RESOURCE_EXHAUSTED:
      return status.RESOURCE_EXHAUSTED;
    case ErrorCode.UNAVAILABLE:
      return status.UNAVAILABLE;
    case ErrorCode.CANCELLED:
      return status.CANCELLED;
    case ErrorCode.DEADLINE_EXCEEDED:
      return status.DEADLINE_EXCEEDED;
    case ErrorCode.UNIMPLEMENTED:
      return status.UNIMPLEMENTED;
    case ErrorCode.UNAUTHENTICATED:
      return status.UNAUTHENTICATED;
    case ErrorCode.PERMISSION_DENIED:
      return status.PERMISSION_DENIED;
    case ErrorCode.INTERNAL:
      return status.INTERNAL;
  }
}

/** HTTP status per google.rpc.Code's documented mapping. */
export function httpStatusOf(code: ErrorCode): number {
  switch (code) {
    case ErrorCode.INVALID_ARGUMENT:
      return 400;
    case ErrorCode.NOT_FOUND:
      return 404;
    case ErrorCode.ALREADY_EXISTS:
      return 409;
    case ErrorCode.FAILED_PRECONDITION:
      return 412;
    case ErrorCode.RESOURCE_EXHAUSTED:
      return 429;
    case ErrorCode.UNAVAILABLE:
      return 503;
    case ErrorCode.CANCELLED:
      return 499;
    case ErrorCode.DEADLINE_EXCEEDED:
      return 504;
    case ErrorCode.UNIMPLEMENTED:
      return 501;
    case ErrorCode.UNAUTHENTICATED:
      return 401;
    case ErrorCode.PERMISSION_DENIED:
      return 403;
    case ErrorCode.INTERNAL:
      return 500;
  }
}

/**
 * Any thrown value as a BrokerError fit to send: BrokerErrors pass through;
 * anything else is an internal fault whose text stays in our logs.
 */
export function toBrokerError(err: unknown): BrokerError {
  if (err instanceof BrokerError) return err;
  return new BrokerError(ErrorCode.INTERNAL, "internal error; see the node's log", { cause: err });
}

/**
 * Any thrown value as the gRPC status to end a call with. Internal faults
 * are logged here (their text never reaches the client).
 */
export function toGrpcStatus(err: unknown, logger: { error(obj: object, msg: string): void }): StatusObject {
  const e = toBrokerError(err);
  if (e.code === ErrorCode.INTERNAL) logger.error({ err: e.cause ?? err }, "internal error in RPC");
  return { code: grpcStatusOf(e.code), details: e.message, metadata: new Metadata() };
}
