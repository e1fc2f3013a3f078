// A real Chromium on a page from another origin (a second local HTTP server)
// attacks real node processes: an <img> to a mutating route of the original
// API, no-cors POSTs, a JSON fetch to the gateway, and a page on a name
// rebound to 127.0.0.1 (DNS rebinding, simulated with Chromium's host
// resolver rules). All fail; curl-like clients keep working; an origin and a
// host the node is configured with work.
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import { chromium, type Browser, type Page } from "playwright-core";
import { connect, uniqueTopic, type Client } from "../helpers/grpc-client.js";
import { startNodeProcess, type NodeProcess } from "../helpers/node-process.js";

const REBOUND = "rebound.gmq-test";
const ALLOWED = "broker.gmq-test";

/** What a request from Node (no Origin, no Sec-Fetch-Site: curl, servers) gets, with a chosen Host header. */
function rawRequest(addr: string, path: string, init: { method?: string; host?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(":")), Number(addr.slice(addr.lastIndexOf(":") + 1))];
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, method: init.method ?? "GET", headers: { ...(init.host ? { host: init.host } : {}), ...init.headers } }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on("error", reject);
    req.end(init.body);
  });
}

describe("cross-site requests from a browser (real Chromium, real nodes)", function () {
  this.timeout(120_000);
  let site: Server;
  let siteOrigin: string;
  let plain: NodeProcess;
  let configured: NodeProcess;
  let browser: Browser;
  let page: Page;
  const clients: Client[] = [];
  const grpcOf = (node: NodeProcess): Client => {
    const c = connect(node.grpcAddr);
    clients.push(c);
    return c;
  };
  const topics = async (node: NodeProcess): Promise<string[]> =>
    (await grpcOf(node).call<object, { topics: { topic: string }[] }>("listTopics", {})).topics.map((t) => t.topic);
  const pushed = async (node: NodeProcess, topic: string): Promise<number> =>
    Number((await grpcOf(node).call<object, { stat: { pushed: bigint } }>("getTopicStat", { topic })).stat.pushed);

  before(async () => {
    // The attacker's site: any page on another origin of the same machine.
    site = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end("<!doctype html><title>another site</title><p>nothing to see</p>");
    });
    await new Promise<void>((resolve) => site.listen(0, "127.0.0.1", resolve));
    siteOrigin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
    plain = await startNodeProcess();
    configured = await startNodeProcess({ args: ["--http-cors-origins", siteOrigin, "--http-allowed-hosts", ALLOWED] });
    browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: ["--no-sandbox", `--host-resolver-rules=MAP ${REBOUND} 127.0.0.1, MAP ${ALLOWED} 127.0.0.1`],
    });
    page = await browser.newPage();
    await page.goto(siteOrigin);
  });

  after(async () => {
    await browser?.close();
    for (const c of clients) c.close();
    for (const n of [plain, configured]) {
      await n?.stop();
      n?.cleanup();
    }
    await new Promise((resolve) => site?.close(resolve));
  });

  /** Loads url as an image from the page and resolves once the browser has the answer (it is never an image). */
  const img = (url: string): Promise<string> =>
    page.evaluate(
      (u) =>
        new Promise<string>((resolve) => {
          const i = new Image();
          i.onload = () => resolve("load");
          i.onerror = () => resolve("error");
          i.src = u;
        }),
      url,
    );

  /** A fetch from the page; "blocked" when the browser refuses to hand over the answer. */
  const pageFetch = (url: string, init: { method?: string; mode?: "cors" | "no-cors"; headers?: Record<string, string>; body?: string }): Promise<{ status: number; text: string } | "blocked"> =>
    page.evaluate(
      async ([u, i]) => {
        try {
          const res = await fetch(u, i as RequestInit);
          return { status: res.status, text: await res.text() };
        } catch {
          return "blocked" as const;
        }
      },
      [url, init] as const,
    );

  it("does not delete a topic when a page loads the original API's /exitTopic as an image", async () => {
    const topic = uniqueTopic("img");
    await grpcOf(plain).call("declareQueue", { topic, bindKey: "q" });
    expect(await img(`http://${plain.httpAddr}/exitTopic?topic=${topic}`)).to.equal("error");
    expect(await topics(plain)).to.include(topic);
  });

  it("stores nothing from a page's no-cors POST, form-encoded to /push or text/plain to the gateway", async () => {
    const topic = uniqueTopic("nocors");
    await grpcOf(plain).call("declareQueue", { topic, bindKey: "q" });
    const form = `data=${encodeURIComponent(JSON.stringify({ topic, route_key: "q", body: "forged", delay: 0 }))}`;
    const legacy = await pageFetch(`http://${plain.httpAddr}/push`, {
      method: "POST",
      mode: "no-cors",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: form,
    });
    const gateway = await pageFetch(`http://${plain.httpAddr}/v1/topics/${topic}/messages`, {
      method: "POST",
      mode: "no-cors",
      headers: { "content-type": "text/plain" },
      body: JSON.stringify({ routeKey: "q", body: "Zm9yZ2Vk" }),
    });
    // An opaque answer: the page cannot tell what happened, and the node did nothing.
    expect(legacy).to.deep.equal({ status: 0, text: "" });
    expect(gateway).to.deep.equal({ status: 0, text: "" });
    expect(await pushed(plain, topic)).to.equal(0);
  });

  it("refuses a page's JSON fetch to the gateway (the preflight finds no CORS grant) and stores nothing", async () => {
    const topic = uniqueTopic("json");
    await grpcOf(plain).call("declareQueue", { topic, bindKey: "q" });
    const res = await pageFetch(`http://${plain.httpAddr}/v1/topics/${topic}/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ routeKey: "q", body: "Zm9yZ2Vk" }),
    });
    expect(res).to.equal("blocked");
    expect(await pushed(plain, topic)).to.equal(0);
    expect(await pageFetch(`http://${plain.httpAddr}/v1/topics`, {})).to.equal("blocked");
  });

  it("refuses a page served under a name rebound to 127.0.0.1 (Host not allowed)", async () => {
    const topic = uniqueTopic("rebind");
    await grpcOf(plain).call("declareQueue", { topic, bindKey: "q" });
    const rebound = await browser.newPage();
    try {
      const res = await rebound.goto(`http://${REBOUND}:${plain.httpAddr.split(":")[1]}/v1/topics`);
      expect(res?.status()).to.equal(403);
      expect(await res?.json()).to.deep.include({ code: "PERMISSION_DENIED", reason: "HOST_NOT_ALLOWED" });
      // Same-origin to the rebound name, so no Origin check could stop it: the Host check does.
      const push = await rebound.evaluate(async (t) => {
        const r = await fetch(`/v1/topics/${t}/messages`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ routeKey: "q", body: "eA==" }) });
        return r.status;
      }, topic);
      expect(push).to.equal(403);
      expect(await pushed(plain, topic)).to.equal(0);
    } finally {
      await rebound.close();
    }
  });

  it("lets the node's own pages (same origin) read and write, as the dashboard does", async () => {
    const topic = uniqueTopic("same");
    await grpcOf(plain).call("declareQueue", { topic, bindKey: "q" });
    const own = await browser.newPage();
    try {
      await own.goto(`http://${plain.httpAddr}/dashboard`);
      const status = await own.evaluate(async (t) => {
        const r = await fetch(`/v1/topics/${t}/messages`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ routeKey: "q", body: "eA==" }) });
        return r.status;
      }, topic);
      expect(status).to.equal(200);
      expect(await pushed(plain, topic)).to.equal(1);
    } finally {
      await own.close();
    }
  });

  it("answers a configured origin (--http-cors-origins) with CORS, preflight included", async () => {
    const topic = uniqueTopic("cors");
    await grpcOf(configured).call("declareQueue", { topic, bindKey: "q" });
    const res = await pageFetch(`http://${configured.httpAddr}/v1/topics/${topic}/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ routeKey: "q", body: "aGk=" }),
    });
    expect(res).to.not.equal("blocked");
    expect((res as { status: number }).status).to.equal(200);
    expect(JSON.parse((res as { text: string }).text)).to.have.property("queues", 1);
    const listed = await pageFetch(`http://${configured.httpAddr}/v1/topics`, {});
    expect(JSON.parse((listed as { text: string }).text).topics.map((t: { topic: string }) => t.topic)).to.include(topic);
    expect(await pushed(configured, topic)).to.equal(1);
    const preflight = await rawRequest(configured.httpAddr, `/v1/topics/${topic}/messages`, {
      method: "OPTIONS",
      headers: { origin: siteOrigin, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" },
    });
    expect(preflight.status).to.equal(204);
    expect(preflight.headers).to.include({
      "access-control-allow-origin": siteOrigin,
      "access-control-allow-methods": "GET, HEAD, POST, PUT, PATCH, DELETE",
      "access-control-allow-headers": "authorization, content-type, accept, last-event-id",
    });
  });

  it("serves a host named in --http-allowed-hosts", async () => {
    const named = await browser.newPage();
    try {
      const res = await named.goto(`http://${ALLOWED}:${configured.httpAddr.split(":")[1]}/v1/ping`);
      expect(res?.status()).to.equal(200);
    } finally {
      await named.close();
    }
  });

  describe("clients that are not browsers (curl, servers)", () => {
    it("keep the original API's GET routes, and any Host that is an IP or a loopback name", async () => {
      const topic = uniqueTopic("curl");
      await grpcOf(plain).call("declareQueue", { topic, bindKey: "q" });
      const port = plain.httpAddr.split(":")[1];
      for (const host of [plain.httpAddr, `localhost:${port}`, `10.1.2.3:${port}`, `[::1]:${port}`]) {
        const res = await rawRequest(plain.httpAddr, `/getTopicStat?topic=${topic}`, { host });
        expect(res.status, host).to.equal(200);
        expect(JSON.parse(res.body), host).to.deep.include({ code: 0 });
      }
      expect((await rawRequest(plain.httpAddr, `/exitTopic?topic=${topic}`)).status).to.equal(200);
      expect(await topics(plain)).to.not.include(topic);
    });

    it("refuses a Host name the node does not serve (403)", async () => {
      const res = await rawRequest(plain.httpAddr, "/v1/topics", { host: "evil.example:80" });
      expect(res.status).to.equal(403);
      expect(JSON.parse(res.body)).to.deep.include({ code: "PERMISSION_DENIED", reason: "HOST_NOT_ALLOWED" });
      expect(JSON.parse(res.body).message).to.match(/--http-allowed-hosts/);
    });

    it("refuses an unlisted Origin, and a request without Origin marked Sec-Fetch-Site cross-site, with 403 CROSS_SITE_REFUSED", async () => {
      for (const headers of [{ origin: "https://other.example" }, { "sec-fetch-site": "cross-site" }] as Record<string, string>[]) {
        const res = await rawRequest(plain.httpAddr, "/v1/topics", { headers });
        expect(res.status, JSON.stringify(headers)).to.equal(403);
        expect(JSON.parse(res.body), JSON.stringify(headers)).to.deep.include({ code: "PERMISSION_DENIED", reason: "CROSS_SITE_REFUSED" });
        expect(res.headers["vary"]).to.equal("Origin");
      }
    });

    it("refuses a gateway body that is not declared JSON (415), and takes it as application/json", async () => {
      const topic = uniqueTopic("type");
      await grpcOf(plain).call("declareQueue", { topic, bindKey: "q" });
      const body = JSON.stringify({ routeKey: "q", body: "aGk=" });
      for (const type of ["text/plain", "application/x-www-form-urlencoded", ""]) {
        const res = await rawRequest(plain.httpAddr, `/v1/topics/${topic}/messages`, { method: "POST", headers: type ? { "content-type": type } : {}, body });
        expect(res.status, type).to.equal(415);
        expect(JSON.parse(res.body), type).to.deep.include({ code: "INVALID_ARGUMENT", reason: "UNSUPPORTED_CONTENT_TYPE" });
      }
      expect(await pushed(plain, topic)).to.equal(0);
      const ok = await rawRequest(plain.httpAddr, `/v1/topics/${topic}/messages`, { method: "POST", headers: { "content-type": "application/json; charset=utf-8" }, body });
      expect(ok.status).to.equal(200);
      expect(await pushed(plain, topic)).to.equal(1);
    });
  });
});
