// The one error type of gmq. Its codes are a closed set that mirrors the gRPC
// status codes we use; api/status.ts maps them to gRPC and HTTP in one place
// each. `message` is written for the caller; `cause` is for our logs only and
// is never sent to a client.

export const ErrorCode = {
  INVALID_ARGUMENT: "INVALID_ARGUMENT",
  NOT_FOUND: "NOT_FOUND",
  ALREADY_EXISTS: "ALREADY_EXISTS",
  FAILED_PRECONDITION: "FAILED_PRECONDITION",
  RESOURCE_EXHAUSTED: "RESOURCE_EXHAUSTED",
  UNAVAILABLE: "UNAVAILABLE",
  CANCELLED: "CANCELLED",
  DEADLINE_EXCEEDED: "DEADLINE_EXCEEDED",
  UNIMPLEMENTED: "UNIMPLEMENTED",
  UNAUTHENTICATED: "UNAUTHENTICATED",
  PERMISSION_DENIED: "PERMISSION_DENIED",
  INTERNAL: "INTERNAL",
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class BrokerError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "BrokerError";
  }
}

export function invalid(message: string): BrokerError {
  return new BrokerError(ErrorCode.INVALID_ARGUMENT, message);
}

export function notFound(message: string): BrokerError {
  return new BrokerError(ErrorCode.NOT_FOUND, message);
}
