// The SDK's one error type. `code` is the gRPC status code (a number, as in
// @grpc/grpc-js's `status` enum) so callers branch on codes, never on text.
import { status, type ServiceError } from "@grpc/grpc-js";

/** gRPC status codes by name, re-exported so callers need not import grpc-js. */
export const Code = status;
export type Code = status;

/** An error from a gmq node or from the SDK itself, carrying its gRPC status code. */
export class GmqError extends Error {
  override name = "GmqError";
  constructor(
    /** gRPC status code, e.g. `Code.NOT_FOUND`. */
    readonly code: Code,
    message: string,
    options?: {
      cause?: unknown;
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
  }
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
    });
  }
  const text = (err as Error)?.message ?? String(err);
  // grpc-js throws this when a call starts on a channel closed because its node left.
  if (/Channel has been shut down/.test(text)) return new GmqError(status.UNAVAILABLE, `node ${node ?? ""} left the cluster`.replace("  ", " "), { cause: err, node });
  return new GmqError(status.UNKNOWN, text, { cause: err, node });
}
