// TLS for both listeners from the one config: --tls-cert/--tls-key turn TLS
// on for gRPC and HTTP; --tls-client-ca adds mutual TLS (a client must
// present a certificate signed by that CA, or the handshake fails).
// TLS 1.2 is limited to ECDHE key exchange with AEAD ciphers (no CBC, no
// static RSA); TLS 1.3 is on. Both listeners are Node TLS servers built from
// httpsServerOptions (the gRPC one in grpc-listener.ts, ahead of grpc-js).
// SIGHUP reads the three files again and both listeners use them for new
// handshakes; open connections stay.
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import type { ServerOptions as HttpsServerOptions } from "node:https";
import { createSecureContext, type SecureContextOptions } from "node:tls";
import type { NodeConfig } from "../config.js";

export type TlsConfig = Pick<NodeConfig, "tlsCert" | "tlsKey" | "tlsClientCa">;

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** Set for mutual TLS. */
  clientCa?: Buffer;
  /** The leaf certificate's subject and end of validity, for the log and the expiry metric. */
  subject: string;
  notAfterMs: number;
}

/** TLS 1.3 suites, then TLS 1.2 ECDHE with AES-GCM or ChaCha20-Poly1305 only. */
export const TLS_CIPHERS = [
  "TLS_AES_128_GCM_SHA256",
  "TLS_AES_256_GCM_SHA384",
  "TLS_CHACHA20_POLY1305_SHA256",
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

/** A certificate ending within this many days is reported at start and on reload. */
export const CERT_EXPIRY_WARNING_DAYS = 14;

function read(path: string, flag: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`${flag} ${path}: cannot read the ${what}: ${(err as Error).message}`);
  }
}

/** The PEM files named by the config, checked (readable, parseable, key matching certificate), or undefined when TLS is off. */
export function loadTls(config: TlsConfig): TlsMaterial | undefined {
  if (!config.tlsCert) return undefined;
  const cert = read(config.tlsCert, "--tls-cert", "certificate");
  const key = read(config.tlsKey, "--tls-key", "private key");
  const clientCa = config.tlsClientCa ? read(config.tlsClientCa, "--tls-client-ca", "client CA bundle") : undefined;
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (err) {
    throw new Error(`--tls-cert ${config.tlsCert} holds no PEM certificate: ${(err as Error).message}`);
  }
  // checkPrivateKey, not a trial createSecureContext: OpenSSL keeps a key of
  // another type than the certificate's (an EC key beside an RSA
  // certificate) without complaint, and every handshake then fails.
  let misfit: string | undefined;
  try {
    if (!leaf.checkPrivateKey(createPrivateKey(key))) misfit = "it is not the certificate's key";
  } catch (err) {
    misfit = `not a PEM private key: ${(err as Error).message}`;
  }
  if (misfit) throw new Error(`--tls-key ${config.tlsKey} does not fit --tls-cert ${config.tlsCert}: ${misfit}`);
  if (clientCa) {
    try {
      createSecureContext({ ca: clientCa });
      new X509Certificate(clientCa);
    } catch (err) {
      throw new Error(`--tls-client-ca ${config.tlsClientCa} holds no PEM CA certificate: ${(err as Error).message}`);
    }
  }
  return { cert, key, clientCa, subject: leaf.subject.replace(/\n/g, ", "), notAfterMs: Date.parse(leaf.validTo) };
}

/** What the secure context of either listener is built from (and rebuilt from on reload). */
export function secureContextOptions(tls: TlsMaterial): SecureContextOptions {
  return {
    cert: tls.cert,
    key: tls.key,
    ...(tls.clientCa ? { ca: tls.clientCa } : {}),
    ciphers: TLS_CIPHERS,
    minVersion: "TLSv1.2",
    honorCipherOrder: true,
  };
}

/** A TLS server's options for either listener: the secure context, and client certificates required under mutual TLS. */
export function httpsServerOptions(tls: TlsMaterial): HttpsServerOptions {
  return {
    ...secureContextOptions(tls),
    ...(tls.clientCa ? { requestCert: true, rejectUnauthorized: true } : {}),
  };
}

/** Seconds until the certificate ends (negative once it has); a warning text when within CERT_EXPIRY_WARNING_DAYS. */
export function certificateExpiry(tls: TlsMaterial, nowMs: number): { secondsLeft: number; warning?: string } {
  const secondsLeft = Math.floor((tls.notAfterMs - nowMs) / 1000);
  if (secondsLeft <= 0) return { secondsLeft, warning: "the TLS certificate (--tls-cert) has expired: clients will refuse the node" };
  if (secondsLeft < CERT_EXPIRY_WARNING_DAYS * 86_400) {
    return { secondsLeft, warning: `the TLS certificate (--tls-cert) expires within ${CERT_EXPIRY_WARNING_DAYS} days: replace it and send SIGHUP` };
  }
  return { secondsLeft };
}
