// One node as the client sees it: a grpc-js channel, promise-returning unary
// calls with a deadline, the node's PushStream, and a short "down" mark after
// a failure to connect so producers skip it while it is unreachable.
import { createSecureContext } from "node:tls";
import {
  credentials,
  InterceptingCall,
  type CallOptions,
  type ChannelCredentials,
  type ChannelOptions,
  type ClientUnaryCall,
  type Interceptor,
  Metadata,
  type ServiceError,
} from "@grpc/grpc-js";
import { BrokerServiceClient } from "../gen/gmq/v1/broker.js";
import { toGmqError } from "./errors.js";
import type { NodeInfo } from "./node-info.js";
import { PushStream } from "./push-stream.js";
import { sniSafeCredentials } from "./tls-credentials.js";

/** TLS material for connecting to nodes that serve TLS (PEM contents). */
export interface TlsOptions {
  /** CA bundle that signed the nodes' certificates (default: the system's roots). */
  ca?: Buffer;
  /** Client certificate and key, for nodes that require mutual TLS. */
  cert?: Buffer;
  key?: Buffer;
}

export function channelCredentials(tls: TlsOptions | undefined): ChannelCredentials {
  if (!tls) return credentials.createInsecure();
  // Without a CA, the system's roots (as grpc-js's createSsl uses).
  return sniSafeCredentials(createSecureContext({ ...(tls.ca ? { ca: tls.ca } : {}), ...(tls.cert && tls.key ? { cert: tls.cert, key: tls.key } : {}) }));
}

/**
 * Adds `authorization: Bearer <token>` to every call, unary and streaming.
 * An interceptor rather than call credentials, which grpc-js refuses on a
 * plaintext channel.
 */
export function bearerToken(token: string): Interceptor {
  // Trimmed as an HTTP server trims a header: HTTP/2 drops a value with
  // leading or trailing whitespace (a token read from a file with its newline).
  const value = `Bearer ${token.trim()}`;
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set("authorization", value);
        next(metadata, listener);
      },
    });
}

/** Channel options that measured well (PERFORMANCE.md, point 5). */
export const defaultChannelOptions: ChannelOptions = {
  "grpc-node.flow_control_window": 8 * 1024 * 1024,
  "grpc.initial_reconnect_backoff_ms": 200,
  "grpc.max_reconnect_backoff_ms": 5000,
  "grpc.max_receive_message_length": 64 * 1024 * 1024,
  "grpc.max_send_message_length": 64 * 1024 * 1024,
};

type Unary<Req, Res> = (
  req: Req,
  md: Metadata,
  opts: Partial<CallOptions>,
  cb: (err: ServiceError | null, res: Res) => void,
) => ClientUnaryCall;

export class NodeConnection {
  readonly rpc: BrokerServiceClient;
  private stream: PushStream | undefined;
  private downUntilMs = 0;
  private failures = 0;
  closed = false;

  constructor(
    public node: NodeInfo,
    channelOptions: ChannelOptions,
    private readonly callTimeoutMs: number,
    creds: ChannelCredentials = credentials.createInsecure(),
  ) {
    this.rpc = new BrokerServiceClient(node.grpcAddr, creds, { ...defaultChannelOptions, ...channelOptions });
  }

  get key(): string {
    return this.node.key;
  }

  /** Calls a unary RPC, e.g. `conn.unary(conn.rpc.push, req)`; rejects with a GmqError. */
  unary<Req, Res>(method: Unary<Req, Res>, req: Req, extraTimeoutMs = 0): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      const deadline = new Date(Date.now() + this.callTimeoutMs + extraTimeoutMs);
      method.call(this.rpc, req, new Metadata(), { deadline }, (err, res) => {
        if (err) reject(toGmqError(err, this.key));
        else resolve(res);
      });
    });
  }

  /** Calls a unary RPC by path with a request already encoded (wire.ts); rejects with a GmqError. */
  unaryEncoded<Res>(path: string, request: Buffer, decode: (bytes: Buffer) => Res): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      const deadline = new Date(Date.now() + this.callTimeoutMs);
      this.rpc.makeUnaryRequest(path, (b: Buffer) => b, decode, request, new Metadata(), { deadline }, (err, res) => {
        if (err) reject(toGmqError(err, this.key));
        else resolve(res!);
      });
    });
  }

  pushStream(): PushStream {
    this.stream ??= new PushStream(this.rpc, this.key);
    return this.stream;
  }

  /** False while the node is marked down after connection failures. */
  isUp(nowMs = Date.now()): boolean {
    return nowMs >= this.downUntilMs;
  }

  /** Marks the node unreachable for a while (200 ms doubling to 5 s). */
  markDown(): void {
    this.failures++;
    this.downUntilMs = Date.now() + Math.min(5000, 200 * 2 ** Math.min(this.failures - 1, 5));
  }

  markUp(): void {
    this.failures = 0;
    this.downUntilMs = 0;
  }

  /** Lets in-flight pushes settle, then closes the channel. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.stream?.close();
    this.rpc.close();
  }
}
