// Where a failure becomes a reply, once per protocol: gRPC (status code,
// message, and a google.rpc.ErrorInfo with the reason in the status details),
// the HTTP gateway (status from one table, JSON with code and reason) and the
// original API's envelope. Each takes any thrown value: what is not a
// BrokerError is an INTERNAL fault, logged here with the call it broke and
// never described to the client. The code switches are exhaustive, so a new
// code does not compile until it is mapped. Unary calls and streams alike
// (grpc-unary.ts, grpc-streams.ts, http-streams.ts) end through these.
import { Metadata, status, type StatusObject } from "@grpc/grpc-js";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { BrokerError, ErrorCode, ErrorReason } from "../broker/index.js";
import type { ErrorReason as ProtoErrorReason } from "../gen/gmq/v1/broker.js";

/** ErrorInfo.domain of every reason the node sends. */
export const ERROR_DOMAIN = "gmq.v1";
export const ERROR_INFO_TYPE_URL = "type.googleapis.com/google.rpc.ErrorInfo";
/** The gRPC trailer holding a serialized google.rpc.Status. */
export const STATUS_DETAILS_KEY = "grpc-status-details-bin";

// The proto's ErrorReason (names without the prefix) and the broker's reasons
// are the same set: this does not compile when one side gains a reason.
type ProtoReasonName = Exclude<
  keyof typeof ProtoErrorReason extends infer K ? (K extends `ERROR_REASON_${infer R}` ? R : never) : never,
  "UNSPECIFIED"
>;
type SameSet<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const reasonsMatchProto: SameSet<ProtoReasonName, ErrorReason> = true;
void reasonsMatchProto;

export interface ErrorLogger {
  error(obj: object, msg: string): void;
}

/** The call a failure belongs to, for the log: the HTTP method (or "grpc") and the route or RPC. */
export interface CallSite {
  method: string;
  route: string;
}

/**
 * Any thrown value as a BrokerError fit to send: BrokerErrors pass through;
 * anything else is an internal fault, logged with its call.
 */
export function toBrokerError(err: unknown, log: ErrorLogger, call: CallSite): BrokerError {
  const e = err instanceof BrokerError ? err : new BrokerError(ErrorReason.INTERNAL_ERROR, "internal error; see the node's log", { cause: err });
  if (e.code === ErrorCode.INTERNAL) log.error({ err: e.cause ?? e, method: call.method, route: call.route }, "internal error");
  return e;
}

// ---- gRPC ----

export function grpcCodeOf(code: ErrorCode): status {
  switch (code) {
    case ErrorCode.INVALID_ARGUMENT:
      return status.INVALID_ARGUMENT;
    case ErrorCode.NOT_FOUND:
      return status.NOT_FOUND;
    case ErrorCode.FAILED_PRECONDITION:
      return status.FAILED_PRECONDITION;
    case ErrorCode.RESOURCE_EXHAUSTED:
      return status.RESOURCE_EXHAUSTED;
    case ErrorCode.UNAVAILABLE:
      return status.UNAVAILABLE;
    case ErrorCode.CANCELLED:
      return status.CANCELLED;
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

/** A serialized google.rpc.Status { code, message, details: [Any(google.rpc.ErrorInfo)] }. */
export function encodeStatusDetails(code: number, e: BrokerError): Uint8Array {
  const info = new BinaryWriter();
  info.uint32(10).string(e.reason); // reason = 1
  info.uint32(18).string(ERROR_DOMAIN); // domain = 2
  for (const [k, v] of Object.entries(e.metadata)) {
    info.uint32(26).fork().uint32(10).string(k).uint32(18).string(v).join(); // map<string, string> metadata = 3
  }
  const w = new BinaryWriter();
  w.uint32(8).int32(code); // code = 1
  w.uint32(18).string(e.message); // message = 2
  w.uint32(26).fork().uint32(10).string(ERROR_INFO_TYPE_URL).uint32(18).bytes(info.finish()).join(); // details = 3 (Any)
  return w.finish();
}

/** A failed RPC's status: code, message and the reason as ErrorInfo in the status details trailer. */
export function grpcStatusOf(err: unknown, log: ErrorLogger, rpc: string): StatusObject & { reason: ErrorReason } {
  const e = toBrokerError(err, log, { method: "grpc", route: rpc });
  const code = grpcCodeOf(e.code);
  const metadata = new Metadata();
  metadata.set(STATUS_DETAILS_KEY, Buffer.from(encodeStatusDetails(code, e)));
  return { code, details: e.message, metadata, reason: e.reason };
}

// ---- HTTP ----

/** HTTP status per google.rpc.Code's documented mapping (FAILED_PRECONDITION is 400 there). */
export function httpStatusOfCode(code: ErrorCode): number {
  switch (code) {
    case ErrorCode.INVALID_ARGUMENT:
      return 400;
    case ErrorCode.NOT_FOUND:
      return 404;
    case ErrorCode.FAILED_PRECONDITION:
      return 400;
    case ErrorCode.RESOURCE_EXHAUSTED:
      return 429;
    case ErrorCode.UNAVAILABLE:
      return 503;
    case ErrorCode.CANCELLED:
      return 499;
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

/** The HTTP layer's own refusals keep HTTP's precise statuses; every other reason follows its code. */
const HTTP_STATUS_OF_REASON: Partial<Record<ErrorReason, number>> = {
  [ErrorReason.METHOD_NOT_ALLOWED]: 405,
  [ErrorReason.REQUEST_TOO_LARGE]: 413,
  [ErrorReason.UNSUPPORTED_CONTENT_TYPE]: 415,
};

export function httpStatusOf(e: BrokerError): number {
  return HTTP_STATUS_OF_REASON[e.reason] ?? httpStatusOfCode(e.code);
}

/** google.rpc.ErrorInfo in proto3 JSON, as in a google.rpc.Status's details. */
export interface ErrorInfoJson {
  "@type": typeof ERROR_INFO_TYPE_URL;
  reason: ErrorReason;
  domain: typeof ERROR_DOMAIN;
  metadata: Record<string, string>;
}

export interface HttpErrorBody {
  code: ErrorCode;
  reason: ErrorReason;
  message: string;
  details: ErrorInfoJson[];
}

export interface HttpErrorReply {
  status: number;
  headers: Record<string, string>;
  body: HttpErrorBody;
}

export function httpErrorBody(e: BrokerError): HttpErrorBody {
  const info: ErrorInfoJson = { "@type": ERROR_INFO_TYPE_URL, reason: e.reason, domain: ERROR_DOMAIN, metadata: { ...e.metadata } };
  return { code: e.code, reason: e.reason, message: e.message, details: [info] };
}

/** A failed HTTP request's reply: status, headers (Allow on 405) and the JSON error. */
export function httpErrorOf(err: unknown, log: ErrorLogger, call: CallSite): HttpErrorReply {
  const e = toBrokerError(err, log, call);
  const headers: Record<string, string> = {};
  if (e.reason === ErrorReason.METHOD_NOT_ALLOWED && e.metadata["allow"]) headers["allow"] = e.metadata["allow"];
  return { status: httpStatusOf(e), headers, body: httpErrorBody(e) };
}

// ---- the original gmq API ----

export interface LegacyErrorBody {
  code: 1;
  data: null;
  msg: string;
  /** The code's name. */
  error: ErrorCode;
  reason: ErrorReason;
}

/**
 * The original's envelope: HTTP 200 with code 1, as the original answered
 * every failure; only the HTTP layer's own refusals (413) keep their status.
 */
export function legacyErrorOf(err: unknown, log: ErrorLogger, call: CallSite): { status: number; body: LegacyErrorBody } {
  const e = toBrokerError(err, log, call);
  return { status: HTTP_STATUS_OF_REASON[e.reason] ?? 200, body: { code: 1, data: null, msg: e.message, error: e.code, reason: e.reason } };
}
