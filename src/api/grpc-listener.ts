// The gRPC port's own listener. grpc-js's Server has no cap on connections
// and no deadline for a connection to start speaking HTTP/2: 600 idle or
// half-handshaked sockets stayed open for good. So the node accepts
// connections itself, on a net.Server (or a tls.Server, which does the TLS
// handshake and the SIGHUP reload as the HTTPS listener does), and hands
// each to grpc-js through its public connection injector once the client's
// HTTP/2 preface has arrived:
//   - past maxConnections a new connection is closed at once (Node's
//     maxConnections, counted from the 'drop' event);
//   - a connection has handshakeTimeoutMs for its TLS handshake, then again
//     for the preface (the magic and the SETTINGS frame after it); a socket
//     silent or slow past either is destroyed.
// Bytes read for the preface are put back (unshift) before the injection;
// Node's HTTP/2 session reads what a socket already holds first.
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from "node:tls";
import type { ConnectionInjector } from "@grpc/grpc-js";
import { httpsServerOptions, secureContextOptions, type TlsMaterial } from "./tls.js";

const MAGIC = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const FRAME_HEADER_BYTES = 9;
const SETTINGS_FRAME = 0x4;
/** A SETTINGS frame longer than this is not waited for: nghttp2 judges it (its default max frame size). */
const MAX_SETTINGS_BYTES = 16_384;

/**
 * How many bytes the client's connection preface takes, judged from its
 * first bytes: a number once known, "more" while too few have come. Bytes
 * that are not an HTTP/2 preface count as complete at once (0), so nghttp2
 * answers them as it always did.
 */
export function prefaceBytes(head: Buffer): number | "more" {
  const magic = head.subarray(0, MAGIC.length);
  if (!magic.equals(MAGIC.subarray(0, magic.length))) return 0;
  if (head.length < MAGIC.length + FRAME_HEADER_BYTES) return "more";
  const length = head.readUIntBE(MAGIC.length, 3);
  const type = head[MAGIC.length + 3];
  if (type !== SETTINGS_FRAME || length > MAX_SETTINGS_BYTES) return 0;
  return MAGIC.length + FRAME_HEADER_BYTES + length;
}

export interface GrpcListenerOptions {
  injector: ConnectionInjector;
  /** TLS on the port when set (mutual TLS when it has a client CA). */
  tls?: TlsMaterial;
  maxConnections: number;
  handshakeTimeoutMs: number;
  /** A connection refused by the cap ("max") or closed by the deadline ("timeout"). */
  rejected: (why: "max" | "timeout") => void;
  /** A failed TLS handshake (a timeout included). */
  onTlsError?: (err: Error, remote: string | undefined) => void;
}

export interface GrpcListener {
  server: NetServer | TlsServer;
  /** New TLS handshakes use tls from now on; open connections stay. */
  setTls(tls: TlsMaterial): void;
  /** Stops accepting and destroys the connections not yet handed to grpc-js. */
  close(): void;
}

export function createGrpcListener(options: GrpcListenerOptions): GrpcListener {
  const { injector, tls, handshakeTimeoutMs, rejected } = options;
  const waiting = new Set<Socket>();

  /** Reads the preface off socket, then gives the socket to grpc-js; destroys it if the preface is late. */
  const awaitPreface = (socket: Socket): void => {
    waiting.add(socket);
    // A client that resets mid-preface is no fault of the node's; grpc-js handles errors once it owns the socket.
    socket.on("error", () => {});
    const timer = setTimeout(() => {
      rejected("timeout");
      socket.destroy();
    }, handshakeTimeoutMs);
    let head = Buffer.alloc(0);
    const onReadable = (): void => {
      let chunk: Buffer | null;
      let need = prefaceBytes(head);
      while ((need === "more" || head.length < need) && (chunk = socket.read() as Buffer | null) !== null) {
        head = Buffer.concat([head, chunk]);
        need = prefaceBytes(head);
      }
      if (need === "more" || head.length < need) return;
      done();
      socket.unshift(head);
      injector.injectConnection(socket);
    };
    const done = (): void => {
      clearTimeout(timer);
      waiting.delete(socket);
      socket.off("readable", onReadable);
      socket.off("close", done);
    };
    socket.on("readable", onReadable);
    socket.on("close", done);
  };

  let server: NetServer | TlsServer;
  if (tls) {
    const secure = createTlsServer({ ...httpsServerOptions(tls), ALPNProtocols: ["h2"], handshakeTimeout: handshakeTimeoutMs }, (socket: TLSSocket) => awaitPreface(socket));
    secure.on("tlsClientError", (err: Error & { code?: string }, socket: TLSSocket) => {
      if (err.code === "ERR_TLS_HANDSHAKE_TIMEOUT") rejected("timeout");
      options.onTlsError?.(err, socket.remoteAddress);
      socket.destroy();
    });
    server = secure;
  } else {
    server = createNetServer(awaitPreface);
  }
  server.maxConnections = options.maxConnections;
  server.on("drop", () => rejected("max"));

  return {
    server,
    setTls(next) {
      if (tls) (server as TlsServer).setSecureContext(secureContextOptions(next));
    },
    close() {
      server.close();
      for (const socket of waiting) socket.destroy();
      waiting.clear();
    },
  };
}
