// Small HTTP plumbing shared by the gateway, the legacy routes and the
// operator endpoints: bounded body reading and JSON/error replies.
import type { IncomingMessage, ServerResponse } from "node:http";
import { BrokerError, ErrorReason, malformed } from "../broker/index.js";
import type { HttpErrorReply } from "./status.js";

/** The largest request body (--max-http-body-bytes), and where a refusal is counted. */
export interface BodyLimit {
  maxBytes: number;
  refused?: () => void;
}

/** Reads the whole body, refusing more than limit.maxBytes (413) as soon as it is exceeded. */
export function readBody(req: IncomingMessage, limit: BodyLimit): Promise<Buffer> {
  const { maxBytes } = limit;
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > maxBytes) {
    req.resume();
    limit.refused?.();
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
        limit.refused?.();
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    // A client that goes away mid-body is no fault of the node's: CANCELLED, logged at debug.
    const gone = () => reject(new BrokerError(ErrorReason.CALL_CANCELLED, "the client closed the connection before sending the whole body"));
    req.on("error", gone);
    req.on("close", () => {
      if (!req.complete) gone();
    });
  });
}

function tooLarge(maxBytes: number): BrokerError {
  return new BrokerError(ErrorReason.REQUEST_TOO_LARGE, `request body exceeds the node's limit of ${maxBytes} bytes (--max-http-body-bytes)`);
}

export function parseJsonBody(body: Buffer): unknown {
  if (body.length === 0) return {};
  try {
    return JSON.parse(body.toString("utf8"));
  } catch (err) {
    throw malformed(`request body is not valid JSON: ${(err as Error).message}`);
  }
}

const JSON_TYPE = "application/json; charset=utf-8";

/**
 * Replies with JSON. The status line and headers are set at once (so
 * headersSent holds); the first reply of an event-loop turn is written at
 * once and the others are held until the poll phase is over, then written
 * back to back. Under load a turn serves many connections, and one burst of
 * writes wakes a sleeping client (and runs the kernel's loopback path) once
 * rather than once per reply: HTTP push went from 13k to 25k+ requests/s.
 * A lone request is never held.
 */
export function sendJson(res: ServerResponse, status: number, value: unknown, headers?: Record<string, string>): void {
  const text = JSON.stringify(value);
  const head: (string | number)[] = ["content-type", JSON_TYPE, "content-length", Buffer.byteLength(text)];
  if (headers) for (const k in headers) head.push(k, headers[k]!);
  res.writeHead(status, head);
  endSoon(res, text);
}

let pendingReplies: ServerResponse[] = [];
let pendingBodies: string[] = [];
let turnOpen = false;

function flushReplies(): void {
  turnOpen = false;
  const replies = pendingReplies;
  const bodies = pendingBodies;
  pendingReplies = [];
  pendingBodies = [];
  for (let i = 0; i < replies.length; i++) replies[i]!.end(bodies[i]);
}

function endSoon(res: ServerResponse, body: string): void {
  if (!turnOpen) {
    turnOpen = true;
    setImmediate(flushReplies);
    res.end(body);
    return;
  }
  pendingReplies.push(res);
  pendingBodies.push(body);
}

/** Sends an error reply made by status.ts (httpErrorOf); a reply already under way is cut off instead. */
export function sendError(res: ServerResponse, e: HttpErrorReply): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, e.status, e.body, e.headers);
}

/** Most characters of a client's bad value quoted back in an error message. */
const MAX_QUOTED_CHARS = 200;

/** A client's value as quoted in an error: JSON-quoted, cut to MAX_QUOTED_CHARS. */
export function quoted(v: string): string {
  return JSON.stringify(v.length > MAX_QUOTED_CHARS ? `${v.slice(0, MAX_QUOTED_CHARS)}…` : v);
}

/** The client's address as "ip:port", for the lifecycle trace. */
export function peerOf(req: IncomingMessage): string {
  const { remoteAddress, remotePort } = req.socket;
  return remoteAddress === undefined ? "" : `${remoteAddress}:${remotePort ?? 0}`;
}
