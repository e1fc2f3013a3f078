// Throwaway certificates made with openssl for TLS tests: a CA, a server
// certificate for 127.0.0.1/localhost (SAN), a client certificate signed by
// the CA, and a client certificate from another CA (untrusted).
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCerts {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  otherClientCert: string;
  otherClientKey: string;
}

function openssl(cwd: string, ...args: string[]): void {
  execFileSync("openssl", args, { cwd, stdio: "pipe" });
}

// P-256 keys: an RSA key costs openssl ~0.2 s of CPU to make, an EC key
// ~1 ms. The server's key is RSA: the hardening test negotiates the
// ECDHE-RSA suites of TLS 1.2 with it.
const EC_KEY = ["ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
const RSA_KEY = ["rsa:2048"];

function makeCa(dir: string, name: string): void {
  openssl(dir, "req", "-x509", "-newkey", ...EC_KEY, "-nodes", "-days", "2", "-subj", `/CN=${name}`, "-keyout", `${name}.key`, "-out", `${name}.crt`);
}

function makeLeaf(dir: string, name: string, ca: string, ext: string, key = EC_KEY): void {
  openssl(dir, "req", "-newkey", ...key, "-nodes", "-subj", `/CN=${name}`, "-keyout", `${name}.key`, "-out", `${name}.csr`);
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(dir, "x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.crt`, "-CAkey", `${ca}.key`, "-CAcreateserial", "-days", "2", "-extfile", `${name}.ext`, "-out", `${name}.crt`);
}

export function makeTestCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), "gmq-certs-"));
  makeCa(dir, "ca");
  makeCa(dir, "otherca");
  makeLeaf(dir, "server", "ca", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n", RSA_KEY);
  makeLeaf(dir, "client", "ca", "extendedKeyUsage=clientAuth\n");
  makeLeaf(dir, "otherclient", "otherca", "extendedKeyUsage=clientAuth\n");
  const p = (f: string): string => join(dir, f);
  return {
    dir,
    caCert: p("ca.crt"),
    serverCert: p("server.crt"),
    serverKey: p("server.key"),
    clientCert: p("client.crt"),
    clientKey: p("client.key"),
    otherClientCert: p("otherclient.crt"),
    otherClientKey: p("otherclient.key"),
  };
}
