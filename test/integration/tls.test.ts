// TLS and mutual TLS on both listeners of real node processes, with
// throwaway certificates made by openssl.
import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { expect } from "chai";
import { makeTestCerts, type TestCerts } from "../helpers/certs.js";
import { codeOf, connect, grpc } from "../helpers/grpc-client.js";
import { startNodeProcess, type NodeProcess } from "../helpers/node-process.js";

function get(url: string, options: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = (url.startsWith("https:") ? httpsRequest : httpRequest)(url, { ...options, timeout: 5000 }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

async function refused(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("expected the request to be refused");
}

describe("TLS (real nodes)", function () {
  this.timeout(60_000);
  let certs: TestCerts;
  let pem: (f: string) => Buffer;

  before(() => {
    certs = makeTestCerts();
    pem = (f) => readFileSync(f);
  });

  describe("server TLS", () => {
    let node: NodeProcess;
    before(async () => {
      node = await startNodeProcess({ args: ["--tls-cert", certs.serverCert, "--tls-key", certs.serverKey] });
    });
    after(async () => {
      await node?.stop();
      node?.cleanup();
    });

    it("serves HTTPS to a client trusting the CA and refuses plaintext HTTP", async () => {
      const ok = await get(`https://${node.httpAddr}/healthz`, { ca: pem(certs.caCert) });
      expect(ok.status).to.equal(200);
      const local = await get(`https://localhost:${node.httpAddr.split(":")[1]}/v1/ping`, { ca: pem(certs.caCert) });
      expect(JSON.parse(local.body).nodeId).to.equal(1);
      await refused(get(`http://${node.httpAddr}/healthz`));
      expect(await refused(get(`https://${node.httpAddr}/healthz`))).to.match(/self[- ]signed|unable to verify|certificate/i);
    });

    it("serves gRPC over TLS and refuses a plaintext gRPC client", async () => {
      const secure = connect(node.grpcAddr, grpc.credentials.createSsl(pem(certs.caCert)));
      try {
        expect((await secure.call<object, { nodeId: number }>("ping", {})).nodeId).to.equal(1);
      } finally {
        secure.close();
      }
      const plain = connect(node.grpcAddr);
      try {
        expect(await codeOf(plain.call("ping", {}, { deadline: Date.now() + 3000 }))).to.be.oneOf([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]);
      } finally {
        plain.close();
      }
    });
  });

  describe("mutual TLS", () => {
    let node: NodeProcess;
    before(async () => {
      node = await startNodeProcess({ args: ["--tls-cert", certs.serverCert, "--tls-key", certs.serverKey, "--tls-client-ca", certs.caCert] });
    });
    after(async () => {
      await node?.stop();
      node?.cleanup();
    });

    it("accepts an HTTPS client with a certificate from the client CA and refuses others", async () => {
      const ca = pem(certs.caCert);
      const ok = await get(`https://${node.httpAddr}/healthz`, { ca, cert: pem(certs.clientCert), key: pem(certs.clientKey) });
      expect(ok.status).to.equal(200);
      await refused(get(`https://${node.httpAddr}/healthz`, { ca }));
      await refused(get(`https://${node.httpAddr}/healthz`, { ca, cert: pem(certs.otherClientCert), key: pem(certs.otherClientKey) }));
    });

    it("accepts a gRPC client with a trusted certificate and refuses an untrusted or missing one", async () => {
      const ca = pem(certs.caCert);
      const trusted = connect(node.grpcAddr, grpc.credentials.createSsl(ca, pem(certs.clientKey), pem(certs.clientCert)));
      try {
        expect((await trusted.call<object, { nodeId: number }>("ping", {})).nodeId).to.equal(1);
      } finally {
        trusted.close();
      }
      for (const creds of [grpc.credentials.createSsl(ca, pem(certs.otherClientKey), pem(certs.otherClientCert)), grpc.credentials.createSsl(ca)]) {
        const c = connect(node.grpcAddr, creds);
        try {
          expect(await codeOf(c.call("ping", {}, { deadline: Date.now() + 3000 }))).to.be.oneOf([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]);
        } finally {
          c.close();
        }
      }
    });
  });
});
