// TLS for both listeners from the one config: --tls-cert/--tls-key turn TLS
// on for gRPC and HTTP; --tls-client-ca adds mutual TLS (a client must
// present a certificate signed by that CA, or the handshake fails).
import { readFileSync } from "node:fs";
import type { ServerOptions as HttpsServerOptions } from "node:https";
import { ServerCredentials } from "@grpc/grpc-js";
import type { NodeConfig } from "../config.js";

export type TlsConfig = Pick<NodeConfig, "tlsCert" | "tlsKey" | "tlsClientCa">;

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** Set for mutual TLS. */
  clientCa?: Buffer;
}

function read(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`cannot read ${what} ${path}: ${(err as Error).message}`);
  }
}

/** The PEM files named by the config, or undefined when TLS is off. */
export function loadTls(config: TlsConfig): TlsMaterial | undefined {
  if (!config.tlsCert) return undefined;
  return {
    cert: read(config.tlsCert, "TLS certificate"),
    key: read(config.tlsKey, "TLS key"),
    clientCa: config.tlsClientCa ? read(config.tlsClientCa, "TLS client CA") : undefined,
  };
}

export function grpcServerCredentials(tls: TlsMaterial | undefined): ServerCredentials {
  if (!tls) return ServerCredentials.createInsecure();
  // checkClientCertificate=true: with a client CA, a missing or untrusted client cert fails the handshake.
  return ServerCredentials.createSsl(tls.clientCa ?? null, [{ private_key: tls.key, cert_chain: tls.cert }], Boolean(tls.clientCa));
}

export function httpsServerOptions(tls: TlsMaterial): HttpsServerOptions {
  return {
    cert: tls.cert,
    key: tls.key,
    minVersion: "TLSv1.2",
    ...(tls.clientCa ? { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true } : {}),
  };
}
