import { expect } from "chai";
import { ServerCredentials } from "@grpc/grpc-js";
import { grpcServerCredentials, httpsServerOptions, loadTls } from "../../src/api/tls.js";
import { makeTestCerts, type TestCerts } from "../helpers/certs.js";

describe("TLS configuration", function () {
  this.timeout(20_000);
  let certs: TestCerts;
  before(() => {
    certs = makeTestCerts();
  });

  it("is off without a certificate: insecure gRPC credentials, no https options", () => {
    expect(loadTls({ tlsCert: "", tlsKey: "", tlsClientCa: "" })).to.equal(undefined);
    expect(grpcServerCredentials(undefined)._isSecure()).to.equal(false);
  });

  it("builds secure gRPC credentials and https options from the PEM files", () => {
    const tls = loadTls({ tlsCert: certs.serverCert, tlsKey: certs.serverKey, tlsClientCa: "" })!;
    expect(tls.cert.toString()).to.include("BEGIN CERTIFICATE");
    const creds = grpcServerCredentials(tls);
    expect(creds).to.be.instanceOf(ServerCredentials);
    expect(creds._isSecure()).to.equal(true);
    const https = httpsServerOptions(tls);
    expect(https).to.include({ minVersion: "TLSv1.2" });
    expect(https).not.to.have.property("requestCert");
  });

  it("requires and verifies client certificates when a client CA is given", () => {
    const tls = loadTls({ tlsCert: certs.serverCert, tlsKey: certs.serverKey, tlsClientCa: certs.caCert })!;
    expect(httpsServerOptions(tls)).to.include({ requestCert: true, rejectUnauthorized: true });
    expect(grpcServerCredentials(tls)._isSecure()).to.equal(true);
  });

  it("names the file it cannot read", () => {
    expect(() => loadTls({ tlsCert: "/nonexistent.pem", tlsKey: "/k.pem", tlsClientCa: "" })).to.throw(/TLS certificate \/nonexistent.pem/);
  });
});
