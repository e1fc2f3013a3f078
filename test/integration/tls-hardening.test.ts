// TLS on real node processes beyond "it works": which suites are offered,
// reloading certificate, key and client CA on SIGHUP with connections kept,
// the expiry warning and metric, configuration errors naming the flags,
// failed handshakes in the log, and clients connecting to an IP address
// without Node's DEP0123 warning.
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { copyFileSync, mkdtempSync, readFileSync } from "node:fs";
import { Agent, request as httpsRequest } from "node:https";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect, type ConnectionOptions, type PeerCertificate } from "node:tls";
import { promisify } from "node:util";
import { expect } from "chai";
import { makeTestCerts, type TestCerts } from "../helpers/certs.js";
import { connect, grpc } from "../helpers/grpc-client.js";
import { startNodeProcess, type NodeProcess } from "../helpers/node-process.js";
import { waitFor } from "../helpers/wait-for.js";

const CLI = join(import.meta.dirname, "../../src/cli/main.ts");

function split(addr: string): { host: string; port: number } {
  const at = addr.lastIndexOf(":");
  return { host: addr.slice(0, at), port: Number(addr.slice(at + 1)) };
}

/** A TLS handshake with the given client options: the negotiated protocol, cipher and server certificate, or the error. */
function handshake(addr: string, options: ConnectionOptions): Promise<{ protocol: string; cipher: string; cert: PeerCertificate } | { error: string }> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ ...split(addr), ...options }, () => {
      const result = { protocol: socket.getProtocol() ?? "", cipher: socket.getCipher().name, cert: socket.getPeerCertificate() };
      socket.end();
      resolve(result);
    });
    socket.on("error", (err) => resolve({ error: err.message }));
  });
}

describe("TLS hardening (real nodes)", function () {
  this.timeout(90_000);
  let a: TestCerts;
  let b: TestCerts;
  before(() => {
    a = makeTestCerts();
    b = makeTestCerts();
  });

  describe("suites", () => {
    let node: NodeProcess;
    before(async () => {
      node = await startNodeProcess({ args: ["--tls-cert", a.serverCert, "--tls-key", a.serverKey] });
    });
    after(async () => {
      await node?.stop();
      node?.cleanup();
    });

    for (const port of ["grpc", "http"] as const) {
      it(`offers TLS 1.3 and, on TLS 1.2, only ECDHE with AEAD ciphers (${port} port)`, async () => {
        const addr = port === "grpc" ? node.grpcAddr : node.httpAddr;
        const ca = readFileSync(a.caCert);
        const alpn = port === "grpc" ? { ALPNProtocols: ["h2"] } : {};
        const v13 = await handshake(addr, { ca, ...alpn });
        expect(v13).to.include({ protocol: "TLSv1.3" });
        for (const cipher of ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305"]) {
          expect(await handshake(addr, { ca, ...alpn, maxVersion: "TLSv1.2", ciphers: cipher }), cipher).to.include({ protocol: "TLSv1.2", cipher });
        }
        for (const cipher of ["AES128-SHA", "AES256-SHA", "ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA384", "AES128-GCM-SHA256", "DHE-RSA-AES128-GCM-SHA256"]) {
          const r = await handshake(addr, { ca, ...alpn, maxVersion: "TLSv1.2", ciphers: cipher });
          expect(r, cipher).to.have.property("error");
        }
        expect(await handshake(addr, { ca, ...alpn, maxVersion: "TLSv1.1", minVersion: "TLSv1" })).to.have.property("error");
      });
    }
  });

  describe("reload on SIGHUP", () => {
    let dir: string;
    let node: NodeProcess;
    const files = () => ({ cert: join(dir, "server.crt"), key: join(dir, "server.key"), ca: join(dir, "client-ca.crt") });
    const install = (set: TestCerts) => {
      copyFileSync(set.serverCert, files().cert);
      copyFileSync(set.serverKey, files().key);
      copyFileSync(set.caCert, files().ca);
    };
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "gmq-tls-reload-"));
      install(a);
      node = await startNodeProcess({ args: ["--tls-cert", files().cert, "--tls-key", files().key, "--tls-client-ca", files().ca] });
    });
    after(async () => {
      await node?.stop();
      node?.cleanup();
    });

    it("serves the new certificate and client CA to new connections, and keeps open HTTPS and gRPC connections", async () => {
      const pem = (f: string) => readFileSync(f);
      const asA = { ca: pem(a.caCert), cert: pem(a.clientCert), key: pem(a.clientKey) };
      const asB = { ca: pem(b.caCert), cert: pem(b.clientCert), key: pem(b.clientKey) };
      // Open before the reload: one keep-alive HTTPS connection and one gRPC channel, both trusting only CA a.
      const agent = new Agent({ keepAlive: true, maxSockets: 1, ...asA });
      const get = (): Promise<{ status: number; reused: boolean }> =>
        new Promise((resolve, reject) => {
          const req = httpsRequest(`https://${node.httpAddr}/healthz`, { agent }, (res) => {
            res.resume();
            res.on("end", () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
          });
          req.on("error", reject);
          req.end();
        });
      const grpcA = connect(node.grpcAddr, grpc.credentials.createSsl(asA.ca, asA.key, asA.cert));
      try {
        expect((await get()).status).to.equal(200);
        expect((await grpcA.call<object, { nodeId: number }>("ping", {})).nodeId).to.equal(1);
        const serialA = new X509Certificate(pem(a.serverCert)).serialNumber;
        expect((await handshake(node.grpcAddr, { ...asA, ALPNProtocols: ["h2"] }) as { cert: PeerCertificate }).cert.serialNumber).to.equal(serialA);

        install(b);
        process.kill(node.pid, "SIGHUP");
        await waitFor(() => node.logs.some((l) => l.includes("TLS certificate, key and client CA reloaded")), { what: "the reload log line", deadlineMs: 30_000 });

        // Kept: the same HTTPS socket answers, and the gRPC channel (which could not reconnect: it trusts only CA a) too.
        expect(await get()).to.deep.equal({ status: 200, reused: true });
        expect((await grpcA.call<object, { nodeId: number }>("ping", {})).nodeId).to.equal(1);
        // New connections: certificate b, and only client certificates of CA b.
        const serialB = new X509Certificate(pem(b.serverCert)).serialNumber;
        for (const [addr, alpn] of [[node.grpcAddr, ["h2"]], [node.httpAddr, ["http/1.1"]]] as const) {
          const ok = await handshake(addr, { ...asB, ALPNProtocols: [...alpn] });
          expect((ok as { cert: PeerCertificate }).cert.serialNumber, addr).to.equal(serialB);
          const withA = await new Promise<string>((resolve) => {
            const s = tlsConnect({ ...split(addr), ca: asB.ca, cert: asA.cert, key: asA.key, ALPNProtocols: [...alpn] }, () => {
              s.once("data", () => resolve("data"));
              s.once("end", () => resolve("closed"));
              s.write(alpn[0] === "h2" ? "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" : "GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n");
            });
            s.on("error", (e) => resolve(`error: ${e.message}`));
          });
          expect(withA, addr).to.match(/^error|^closed/);
        }
        const grpcB = connect(node.grpcAddr, grpc.credentials.createSsl(asB.ca, asB.key, asB.cert));
        try {
          expect((await grpcB.call<object, { nodeId: number }>("ping", {})).nodeId).to.equal(1);
        } finally {
          grpcB.close();
        }
      } finally {
        grpcA.close();
        agent.destroy();
      }
    });

    it("keeps the previous certificate when the new files are bad, and says so", async () => {
      copyFileSync(a.clientKey, files().key); // a key that does not fit the certificate
      const before = node.logs.length;
      process.kill(node.pid, "SIGHUP");
      await waitFor(() => node.logs.slice(before).some((l) => l.includes("TLS files not reloaded")), { what: "the refusal log line", deadlineMs: 30_000 });
      const line = node.logs.slice(before).find((l) => l.includes("TLS files not reloaded"))!;
      expect(JSON.parse(line).err).to.match(/--tls-key .* does not fit --tls-cert/);
      const r = await handshake(node.grpcAddr, { ca: readFileSync(b.caCert), cert: readFileSync(b.clientCert), key: readFileSync(b.clientKey), ALPNProtocols: ["h2"] });
      expect((r as { cert: PeerCertificate }).cert.serialNumber).to.equal(new X509Certificate(readFileSync(b.serverCert)).serialNumber);
    });
  });

  describe("expiry, errors, handshake log, clients", () => {
    let node: NodeProcess;
    before(async () => {
      node = await startNodeProcess({ args: ["--tls-cert", a.serverCert, "--tls-key", a.serverKey, "--grpc-handshake-timeout-ms", "1000"] });
    });
    after(async () => {
      await node?.stop();
      node?.cleanup();
    });

    const scrape = () =>
      new Promise<string>((resolve, reject) => {
        httpsRequest(`https://${node.httpAddr}/metrics`, { ca: readFileSync(a.caCert) }, (res) => {
          let body = "";
          res.on("data", (d: Buffer) => (body += d.toString()));
          res.on("end", () => resolve(body));
        })
          .on("error", reject)
          .end();
      });

    it("warns at start about a certificate that expires within 14 days and exports its end as a metric", async () => {
      const notAfter = Date.parse(new X509Certificate(readFileSync(a.serverCert)).validTo); // the test certificates live 2 days
      const warning = node.logs.map((l) => JSON.parse(l)).find((l) => /expires within 14 days/.test(l.msg));
      expect(warning).to.include({ level: 40, notAfter: new Date(notAfter).toISOString() });
      const metrics = await scrape();
      expect(metrics).to.include(`gmq_tls_certificate_expiry_timestamp_seconds ${Math.floor(notAfter / 1000)}`);
    });

    it("names the flag when a TLS file is missing or the key does not fit the certificate", async () => {
      const refused = async (args: string[]): Promise<string> => {
        try {
          const n = await startNodeProcess({ args });
          await n.stop();
          n.cleanup();
        } catch (err) {
          return (err as Error).message;
        }
        throw new Error("the node started");
      };
      expect(await refused(["--tls-cert", a.serverCert, "--tls-key", a.clientKey])).to.match(/--tls-key \S+ does not fit --tls-cert \S+/);
      expect(await refused(["--tls-cert", a.serverCert, "--tls-key", b.serverKey])).to.match(/--tls-key \S+ does not fit --tls-cert \S+/);
      expect(await refused(["--tls-cert", a.serverCert, "--tls-key", a.serverKey, "--tls-client-ca", "/nonexistent/ca.pem"])).to.match(/--tls-client-ca \/nonexistent\/ca.pem: cannot read/);
      expect(await refused(["--tls-cert", a.serverKey, "--tls-key", a.serverKey])).to.match(/--tls-cert \S+ holds no PEM certificate/);
      expect(await refused(["--tls-cert", a.serverCert])).to.match(/--tls-cert and --tls-key/);
    });

    for (const [port, label] of [["http", "https"], ["grpc", "grpc"]] as const) {
      it(`logs a failed handshake on the ${port} port with the count of those left out`, async () => {
        const addr = port === "grpc" ? node.grpcAddr : node.httpAddr;
        await new Promise<void>((resolve) => {
          const s = netConnect(split(addr), () => s.end("GET / HTTP/1.1\r\nhost: x\r\n\r\n"));
          s.on("close", () => resolve());
          s.on("error", () => resolve());
        });
        const msg = `${label}: TLS handshake failed`;
        await waitFor(() => node.logs.some((l) => l.includes(msg)), { what: "the handshake log line", deadlineMs: 30_000 });
        const line = JSON.parse(node.logs.find((l) => l.includes(msg))!);
        expect(line).to.include({ level: 40, suppressed: 0, remote: "127.0.0.1" });
      });
    }

    it("closes a gRPC connection that does not start its TLS handshake, and one that sends no HTTP/2 preface after it, once --grpc-handshake-timeout-ms passes", async () => {
      const timeouts = async () => Number(/^gmq_limit_rejections_total\{limit="grpc-handshake-timeout-ms"\} (\d+)/m.exec(await scrape())?.[1] ?? 0);
      const before = await timeouts();
      const silent = new Promise<void>((resolve, reject) => {
        const s = netConnect(split(node.grpcAddr));
        s.on("close", () => resolve());
        s.on("error", reject);
      });
      const mute = new Promise<string>((resolve, reject) => {
        const s = tlsConnect({ ...split(node.grpcAddr), ca: readFileSync(a.caCert), ALPNProtocols: ["h2"] }, () => {
          s.on("close", () => resolve(s.alpnProtocol || ""));
        });
        s.on("error", reject);
      });
      await silent;
      expect(await mute).to.equal("h2"); // the handshake was done, then the connection closed
      expect(await timeouts()).to.equal(before + 2);
    });

    it("lets the CLI (and so the SDK) connect to an IP address over TLS without Node's DEP0123 warning", async () => {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, ["--import", "tsx", CLI, "--addr", node.grpcAddr, "--tls-ca", a.caCert, "nodes"], {
        cwd: join(import.meta.dirname, "../.."),
      });
      expect(stderr).to.not.include("DEP0123");
      expect(stdout).to.include(node.grpcAddr);
    });
  });
});
