import { expect } from "chai";
import { rateLimited } from "../../src/api/log-limit.js";
import { certificateExpiry, httpsServerOptions, loadTls } from "../../src/api/tls.js";
import { makeTestCerts, type TestCerts } from "../helpers/certs.js";

describe("TLS configuration", function () {
  this.timeout(20_000);
  let certs: TestCerts;
  before(() => {
    certs = makeTestCerts();
  });

  it("is off without a certificate", () => {
    expect(loadTls({ tlsCert: "", tlsKey: "", tlsClientCa: "" })).to.equal(undefined);
  });

  it("builds the TLS servers' options from the PEM files", () => {
    const tls = loadTls({ tlsCert: certs.serverCert, tlsKey: certs.serverKey, tlsClientCa: "" })!;
    expect(tls.cert.toString()).to.include("BEGIN CERTIFICATE");
    const https = httpsServerOptions(tls);
    expect(https).to.include({ minVersion: "TLSv1.2" });
    expect(https).not.to.have.property("requestCert");
  });

  it("requires and verifies client certificates when a client CA is given", () => {
    const tls = loadTls({ tlsCert: certs.serverCert, tlsKey: certs.serverKey, tlsClientCa: certs.caCert })!;
    expect(httpsServerOptions(tls)).to.include({ requestCert: true, rejectUnauthorized: true });
  });

  it("names the file it cannot read", () => {
    expect(() => loadTls({ tlsCert: "/nonexistent.pem", tlsKey: "/k.pem", tlsClientCa: "" })).to.throw(/--tls-cert \/nonexistent.pem: cannot read/);
  });
});

describe("certificate expiry and rate-limited logs", () => {
  const material = (notAfterMs: number) => ({ cert: Buffer.alloc(0), key: Buffer.alloc(0), subject: "CN=x", notAfterMs });
  const day = 86_400_000;

  it("warns about a certificate that has expired or ends within 14 days, and not about one that ends later", () => {
    const now = 1_800_000_000_000;
    expect(certificateExpiry(material(now - 1000), now)).to.deep.equal({ secondsLeft: -1, warning: "the TLS certificate (--tls-cert) has expired: clients will refuse the node" });
    expect(certificateExpiry(material(now + 14 * day - 1000), now).warning).to.match(/expires within 14 days/);
    expect(certificateExpiry(material(now + 14 * day), now)).to.deep.equal({ secondsLeft: 14 * 86_400 });
  });

  it("logs the first event at once, then at most one per interval with the number left out", () => {
    let t = 0;
    const limit = rateLimited(10_000, () => t);
    const emitted: number[] = [];
    for (const at of [0, 1, 2, 9_999, 10_000, 10_001, 25_000]) {
      t = at;
      limit((suppressed) => emitted.push(suppressed));
    }
    expect(emitted).to.deep.equal([0, 3, 1]);
  });
});
