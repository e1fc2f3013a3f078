// The SDK's one error type. `code` is the gRPC status code (a number, as in
// @grpc/grpc-js's `status` enum) and `reason` the node's reason (decoded from
// the google.rpc.ErrorInfo in the status details), so callers branch on
// codes and reasons, never on text.
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { status, type Metadata, type ServiceError } from "@grpc/grpc-js";
import { ErrorReason } from "../gen/gmq/v1/broker.js";

/** gRPC status codes by name, re-exported so callers need not import grpc-js. */
export const Code = status;
export type Code = status;

/** A reason's name as sent by the node: gmq.v1.ErrorReason without its ERROR_REASON_ prefix. */
export type ReasonName = Exclude<keyof typeof ErrorReason extends infer K ? (K extends `ERROR_REASON_${infer R}` ? R : never) : never, "UNSPECIFIED">;

/** The reasons a node sends (see gmq.v1.ErrorReason in the proto), by name: `err.reason === Reason.QUEUE_EMPTY`. */
export const Reason = Object.fromEntries(
  Object.keys(ErrorReason)
    .filter((k) => k.startsWith("ERROR_REASON_") && k !== "ERROR_REASON_UNSPECIFIED")
    .map((k) => [k.slice("ERROR_REASON_".length), k.slice("ERROR_REASON_".length)]),
) as { readonly [R in ReasonName]: R };

const ERROR_DOMAIN = "gmq.v1";
const ERROR_INFO_TYPE_URL = "type.googleapis.com/google.rpc.ErrorInfo";

/**
 * The reason in a gRPC error's grpc-status-details-bin trailer: a
 * google.rpc.Status whose details hold a google.rpc.ErrorInfo of domain
 * gmq.v1. "" when there is none (an error from grpc-js itself, or a damaged trailer).
 */
export function reasonFromTrailers(metadata: Metadata | undefined): string {
  const raw = metadata?.get("grpc-status-details-bin")[0];
  if (!(raw instanceof Uint8Array)) return "";
  try {
    const st = new BinaryReader(raw);
    while (st.pos < st.len) {
      const tag = st.uint32();
      if (tag !== 26) {
        st.skip(tag & 7); // code = 1, message = 2
        continue;
      }
      const any = new BinaryReader(st.bytes()); // details = 3: google.protobuf.Any
      let typeUrl = "";
      let value: Uint8Array | undefined;
      while (any.pos < any.len) {
        const t = any.uint32();
        if (t === 10) typeUrl = any.string();
        else if (t === 18) value = any.bytes();
        else any.skip(t & 7);
      }
      if (typeUrl !== ERROR_INFO_TYPE_URL || !value) continue;
      const info = new BinaryReader(value);
      let reason = "";
      let domain = "";
      while (info.pos < info.len) {
        const t = info.uint32();
        if (t === 10) reason = info.string();
        else if (t === 18) domain = info.string();
        else info.skip(t & 7); // metadata = 3
      }
      if (domain === ERROR_DOMAIN) return reason;
    }
  } catch {
    // A trailer we cannot read carries no reason.
  }
  return "";
}

/** An error from a gmq node or from the SDK itself, carrying its gRPC status code. */
export class GmqError extends Error {
  override name = "GmqError";
  constructor(
    /** gRPC status code, e.g. `Code.NOT_FOUND`. */
    readonly code: Code,
    message: string,
    options?: {
      cause?: unknown;
      /** The node's reason, e.g. "QUEUE_EMPTY"; "" when none was sent. */
      reason?: string;
      /** The node the call went to, when there was one. */
      node?: string;
      /**
       * True when the request may have reached the node before the failure
       * (e.g. the connection dropped mid-call): the push may or may not be stored.
       */
      outcomeUnknown?: boolean;
    },
  ) {
    super(message, { cause: options?.cause });
    this.node = options?.node;
    this.outcomeUnknown = options?.outcomeUnknown ?? false;
    this.reason = options?.reason ?? "";
  }
  /**
   * Why the node refused the call, one of {@link Reason} (e.g. `Reason.QUEUE_EMPTY`
   * or `Reason.QUEUE_NOT_FOUND`, both `Code.NOT_FOUND`); "" for errors that did
   * not come from a gmq node's logic (connection failures, the SDK's own checks).
   * A newer node may send a reason this SDK does not list.
   */
  readonly reason: string;
  readonly node: string | undefined;
  readonly outcomeUnknown: boolean;

  /** The code's name, e.g. "NOT_FOUND". */
  get codeName(): string {
    return Code[this.code] ?? `CODE_${this.code}`;
  }
}

/**
 * Did the call fail before its request could reach the node? Then retrying it
 * elsewhere cannot duplicate it. grpc-js reports a connection that was never
 * established as UNAVAILABLE with "No connection established" (or the connect
 * error); a dropped connection mid-call is UNAVAILABLE too but its outcome is unknown.
 */
export function failedBeforeSend(err: { code?: number; details?: string; message?: string }): boolean {
  if (err.code !== status.UNAVAILABLE) return false;
  const text = `${err.details ?? ""} ${err.message ?? ""}`;
  return /No connection established|ECONNREFUSED|Failed to connect|connect E[A-Z]+|Name resolution failed|channel closed/i.test(text);
}

/** Wraps a grpc-js ServiceError (or any thrown value) as a GmqError. */
export function toGmqError(err: unknown, node?: string): GmqError {
  if (err instanceof GmqError) return err;
  const se = err as Partial<ServiceError>;
  if (typeof se?.code === "number") {
    const unknownOutcome = se.code === status.UNAVAILABLE && !failedBeforeSend(se);
    // grpc-js appends an empty "Resolution note:" to connection errors.
    const text = (se.details || se.message || Code[se.code] || "error").replace(/\.?\s*Resolution note:\s*$/, "");
    return new GmqError(se.code, text, {
      cause: err,
      node,
      outcomeUnknown: unknownOutcome,
      reason: reasonFromTrailers(se.metadata),
    });
  }
  const text = (err as Error)?.message ?? String(err);
  // grpc-js throws this when a call starts on a channel closed because its node left.
  if (/Channel has been shut down/.test(text)) return new GmqError(status.UNAVAILABLE, `node ${node ?? ""} left the cluster`.replace("  ", " "), { cause: err, node });
  return new GmqError(status.UNKNOWN, text, { cause: err, node });
}
