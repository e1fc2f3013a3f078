// Small HTTP plumbing shared by the gateway, the legacy routes and the
// operator endpoints: bounded body reading and JSON/error replies.
import type { IncomingMessage, ServerResponse } from "node:http";
import { BrokerError, ErrorCode } from "../broker/errors.js";
import { httpStatusOf } from "./status.js";

/** An HTTP-only failure that has no broker error code (404 route, 405, 413, 415). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "HttpError";
  }
}

/** Reads the whole body, refusing more than maxBytes (413) as soon as it is exceeded. */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > maxBytes) {
    req.resume();
    return Promise.reject(tooLarge(maxBytes));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.removeAllListeners("data");
        req.resume();
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function tooLarge(maxBytes: number): HttpError {
  return new HttpError(413, "RESOURCE_EXHAUSTED", `request body exceeds the node's limit of ${maxBytes} bytes (--max-http-body-bytes)`);
}

export function parseJsonBody(body: Buffer): unknown {
  if (body.length === 0) return {};
  try {
    return JSON.parse(body.toString("utf8"));
  } catch (err) {
    throw new BrokerError(ErrorCode.INVALID_ARGUMENT, `request body is not valid JSON: ${(err as Error).message}`);
  }
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(value);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** Status and error code of any failure, for the reply and the latency metric. */
export function errorStatus(err: unknown, toBroker: (e: unknown) => BrokerError): { status: number; code: string; message: string; headers: Record<string, string> } {
  if (err instanceof HttpError) return { status: err.status, code: err.code, message: err.message, headers: err.headers };
  const be = toBroker(err);
  return { status: httpStatusOf(be.code), code: be.code, message: be.message, headers: {} };
}

/** Errors as {code, message, details}: code is the gRPC code name, details a list (empty today). */
export function sendError(res: ServerResponse, e: { status: number; code: string; message: string; headers: Record<string, string> }): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, e.status, { code: e.code, message: e.message, details: [] }, e.headers);
}
