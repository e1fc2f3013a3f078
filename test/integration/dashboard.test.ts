// The operator's dashboard in a real browser (Debian's chromium driven by
// playwright-core) against a real node with token auth and traffic: the
// page opens with the node's history already charted, a topic view opens by
// its URL, a dead-letter action asks for confirmation and works with the
// admin token and is refused without, a queue is peeked page by page and a
// message opened by its id shows its copies and trace, and is rescheduled
// and deleted from there. Beside it, on the same node: the
// consumers every stats call lists, and the per-stream metrics. A screenshot
// of the topic view is written to test-artifacts/dashboard.png, one of a
// message's view to test-artifacts/dashboard-message.png.
import { expect } from "chai";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import * as pb from "../../src/gen/gmq/v1/broker.js";
import { AuthFile, opsToken } from "../helpers/auth-file.js";
import { connect, grpc, type Client } from "../helpers/grpc-client.js";
import { EventReader } from "../helpers/http.js";
import { startNodeProcess, type NodeProcess } from "../helpers/node-process.js";
import { waitFor } from "../helpers/wait-for.js";

const ADMIN = "dashboard-admin-0123456789";
const WORKER = "dashboard-worker-0123456789";
const ARTIFACTS = join(import.meta.dirname, "../../test-artifacts");

describe("dashboard (real node, chromium)", function () {
  this.timeout(120_000);
  let auth: AuthFile;
  let node: NodeProcess;
  let base: string;
  let browser: Browser;
  let page: Page;
  let client: Client;
  let openedAtMs: number;

  const http = async (path: string, init: RequestInit = {}, token: string | undefined = ADMIN): Promise<any> => {
    const headers: Record<string, string> = { ...(init.headers as Record<string, string>) };
    if (token) headers.authorization = `Bearer ${token}`;
    if (init.body) headers["content-type"] = "application/json";
    const res = await fetch(`${base}${path}`, { ...init, headers });
    const body = await res.json();
    if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(body)}`);
    return body;
  };
  const put = (path: string, body: object = {}) => http(path, { method: "PUT", body: JSON.stringify(body) });
  const post = (path: string, body: object = {}) => http(path, { method: "POST", body: JSON.stringify(body) });
  const stat = async (topic: string) => (await http(`/v1/topics/${topic}/stat`)).stat;
  const metadata = (token: string) => {
    const md = new grpc.Metadata();
    md.set("authorization", `Bearer ${token}`);
    return md;
  };

  before(async () => {
    auth = new AuthFile([opsToken(ADMIN), { name: "worker", token: WORKER, consume: ["*"] }]);
    node = await startNodeProcess({ args: ["--auth-file", auth.file] });
    base = `http://${node.httpAddr}`;
    client = connect(node.grpcAddr);

    // Traffic: pushes to orders, and one message dead-lettered (no retries, 1 s TTR, never acked).
    await put("/v1/topics/orders/config", { msgRetry: 0, msgTtr: 1, trace: true });
    await put("/v1/topics/orders/queues/paid");
    await put("/v1/topics/orders/queues/audit"); // consumed by a stream while nothing is routed to it
    await put("/v1/topics/billing/queues/q");
    await post("/v1/topics/orders/messages", { routeKey: "paid", body: Buffer.from("to die").toString("base64") });
    await http("/v1/topics/orders/queues/paid:pop");
    for (let i = 0; i < 20; i++) await post("/v1/topics/orders/messages", { routeKey: "paid", body: Buffer.from(`order ${i}`).toString("base64") });
    await waitFor(async () => Number((await stat("orders")).dead) === 1, { what: "the unacked message to be dead-lettered" });
    // A few seconds of history before any page opens.
    await waitFor(async () => (await http("/v1/history?topic=orders")).series[0]?.atMs.length >= 4, { what: "four samples of orders' history" });

    browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
    page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    // The token is typed before the page's script runs, as a returning user's is remembered.
    await page.addInitScript((token) => localStorage.setItem("gmq.token", token), ADMIN);
  });

  after(async () => {
    await browser?.close();
    client?.close();
    await node?.stop();
    node?.cleanup();
    auth?.remove();
  });

  it("opens with the node's history charted, from samples taken before the page was opened", async () => {
    openedAtMs = Date.now();
    await page.goto(`${base}/dashboard`);
    const firstSampleMs = await page.waitForFunction(() => {
      const d = (window as any).gmqDashboard?.depthChart?.data;
      return d && d[0].length >= 4 ? d[0][0] * 1000 : 0;
    });
    expect(await firstSampleMs.jsonValue()).to.be.below(openedAtMs);
    await expect(page.locator("#rows tr.topic")).to.exist;
    expect(await page.locator("#rows a.topic").allTextContents()).to.deep.equal(["billing", "orders"]);
    expect(await page.locator("#cluster-title").textContent({ timeout: 15_000 })).to.be.a("string");
    await page.waitForFunction(() => document.querySelector("#node-rows tr.cluster-node") !== null);
    expect(await page.locator("#node-rows tr.cluster-node td").first().textContent()).to.equal("1 (this)");
  });

  it("opens a topic view by its URL, with its queues, consumers and cards", async () => {
    // An HTTP consume stream on orders/audit, listed under its queue.
    const ac = new AbortController();
    const res = await fetch(`${base}/v1/topics/orders/queues/audit:consume?max_in_flight=5`, { headers: { authorization: `Bearer ${WORKER}` }, signal: ac.signal });
    expect(res.status).to.equal(200);
    try {
      await page.goto(`${base}/dashboard#/topics/orders`);
      await page.reload(); // a view opened from its URL alone, not by navigation within the page
      await page.waitForFunction(() => document.querySelector("#crumbs")?.textContent === "› topic orders");
      await page.waitForFunction(() => document.querySelector("#rates-title")?.textContent?.startsWith("rates, topic orders"));
      await page.waitForFunction(() => document.querySelector("tr.consumer")?.textContent?.includes("HTTP stream"));
      expect(await page.locator("#rows a.topic").allTextContents()).to.deep.equal(["orders"]);
      expect(await page.locator("#cards .k").first().textContent()).to.equal("queues");
      await page.waitForFunction(() => ((window as any).gmqDashboard.depthChart.data[0].length as number) >= 4);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, "dashboard.png"), fullPage: true });
    } finally {
      ac.abort();
    }
  });

  it("redrives dead letters after confirmation with the admin token, and shows the refusal without one", async () => {
    await page.goto(`${base}/dashboard#/topics/orders`);
    const redrive = page.locator('button[data-action="redrive"][data-queue="paid"]');
    // A click can land on a row a poll is re-rendering (each token change polls): click until the confirmation opens.
    const openConfirm = () =>
      waitFor(
        async () => {
          if (!(await page.locator("#confirm").isVisible())) await redrive.click();
          return page.locator("#confirm").isVisible();
        },
        { what: "the redrive confirmation", deadlineMs: 60_000, intervalMs: 250 },
      );
    await redrive.waitFor();

    // Without a token: the page keeps what it showed, and the call is refused.
    await page.locator("#token").fill("");
    await page.locator("#token").dispatchEvent("change");
    await openConfirm();
    await expect(await page.locator("#confirm-text").textContent()).to.contain("Move every dead letter of queue paid");
    await page.locator("#confirm-ok").click();
    await page.waitForFunction(() => document.querySelector("#result")?.textContent?.includes("refused"));
    expect(await page.locator("#result").textContent()).to.contain("UNAUTHENTICATED TOKEN_REQUIRED");
    expect(Number((await stat("orders")).dead)).to.equal(1);

    // Cancelled: nothing happens.
    await page.locator("#token").fill(ADMIN);
    await page.locator("#token").dispatchEvent("change");
    await openConfirm();
    await page.locator("#confirm-cancel").click();
    expect(Number((await stat("orders")).dead)).to.equal(1);

    await openConfirm();
    await page.locator("#confirm-ok").click();
    await page.waitForFunction(() => document.querySelector("#result")?.textContent?.includes("moved 1 dead letters back"));
    expect(Number((await stat("orders")).dead)).to.equal(0);
  });

  it("peeks a queue page by page, opens a message by its id with its state, body and trace, and reschedules and deletes messages after confirmation", async () => {
    const peekApi = async (afterId: string) => (await http(`/v1/topics/orders/queues/paid/messages?limit=20&after_id=${afterId}&include_body=true`)).messages as any[];
    const firstPage = await peekApi("0");
    const secondPage = await peekApi(firstPage[19].id);
    expect(firstPage).to.have.length(20);
    const shownIds = () => page.locator("#messages tr.peeked a.msg").allTextContents();

    await page.goto(`${base}/dashboard#/topics/orders`);
    const peek = page.locator('button[data-peek="paid"]');
    await peek.waitFor();
    // As with the actions, a poll may re-render the row under the click: click until the page shows.
    await waitFor(
      async () => {
        if ((await page.locator("#messages tr.peeked").count()) === 0) await peek.click();
        return (await page.locator("#messages tr.peeked").count()) === 20;
      },
      { what: "the first page of queue paid", deadlineMs: 60_000, intervalMs: 250 },
    );
    expect(await shownIds()).to.deep.equal(firstPage.map((m) => m.id));
    await page.locator("#peek-next").click();
    await page.waitForFunction(() => document.querySelector("#messages h2")?.textContent?.includes("page 2"));
    expect(await shownIds()).to.deep.equal(secondPage.map((m) => m.id));
    await page.locator("#peek-prev").click();
    await page.waitForFunction(() => document.querySelector("#messages h2")?.textContent?.includes("page 1"));

    // The first message, opened by clicking its id.
    const first = firstPage[0];
    await page.locator(`#messages a.msg >> text="${first.id}"`).click();
    await page.waitForFunction((id) => location.hash === `#/topics/orders/messages/${id}`, first.id);
    await page.waitForFunction(() => document.querySelector("#trace li") !== null);
    expect(await page.locator("#messages tr.copy .state").allTextContents()).to.deep.equal(["ready"]);
    expect(await page.locator("#message-body").textContent()).to.equal(Buffer.from(first.body, "base64").toString());
    expect(await page.locator("#trace .event").allTextContents()).to.include("pushed");

    // Rescheduled an hour ahead, after confirming with the delay typed in.
    await page.locator('#messages button[data-action="reschedule"]').click();
    expect(await page.locator("#confirm-field").isVisible()).to.equal(true);
    await page.locator("#confirm-input").fill("3600");
    await page.locator("#confirm-ok").click();
    await page.waitForFunction(() => document.querySelector("#result")?.textContent?.includes("due at"));
    const delayed = (await http(`/v1/topics/orders/messages/${first.id}`)).copies[0];
    expect(delayed.state).to.equal("MESSAGE_STATE_DELAYED");
    await page.waitForFunction(() => document.querySelector("#messages tr.copy .state")?.textContent === "delayed");
    expect(await page.locator("#trace .event").allTextContents()).to.deep.equal(["pushed", "rescheduled"]);
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-message.png"), fullPage: true });

    // The second message, found by its id, deleted for good.
    const second = firstPage[1];
    await page.goto(`${base}/dashboard#/topics/orders`);
    await page.locator("#find-id").fill(second.id);
    await page.locator("#find button").click();
    await page.waitForFunction((id) => location.hash === `#/topics/orders/messages/${id}`, second.id);
    await page.locator('#messages button[data-action="delete"]').click();
    await page.locator("#confirm-ok").click();
    await page.waitForFunction(() => document.querySelector("#result")?.textContent?.endsWith("deleted"));
    await page.waitForFunction(() => document.querySelector("#lookup-error")?.textContent?.includes("MESSAGE_NOT_FOUND"));
    expect(await page.locator("#trace .event").allTextContents()).to.deep.equal(["pushed", "cancelled"]);
    const res = await fetch(`${base}/v1/topics/orders/messages/${second.id}`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(res.status).to.equal(404);
  });

  it("lists a queue's gRPC Consume streams and waiting Pops in GetTopicStat", async () => {
    const stream = client.consume(metadata(WORKER));
    stream.on("error", () => {});
    stream.write({ kind: { $case: "subscribe", value: pb.ConsumeSubscribe.fromPartial({ topic: "billing", bindKey: "q", maxInFlight: 7 }) } });
    const waiting = http("/v1/topics/billing/queues/q:pop?wait_ms=20000", {}, WORKER).catch(() => undefined);
    try {
      const consumers = await waitFor(
        () =>
          new Promise<pb.ConsumerInfo[] | undefined>((resolve, reject) =>
            client.getTopicStat(pb.GetTopicStatRequest.fromPartial({ topic: "billing" }), metadata(ADMIN), (err, r) =>
              err ? reject(err) : resolve(r.stat!.queues[0]!.consumers.length === 2 ? r.stat!.queues[0]!.consumers : undefined),
            ),
          ),
        { what: "the stream and the long poll listed" },
      );
      const byKind = Object.fromEntries(consumers.map((c) => [c.kind, c]));
      const s = byKind[pb.ConsumerKind.CONSUMER_KIND_GRPC_STREAM]!;
      expect(s.credit).to.equal(7);
      expect(s.inFlight).to.equal(0);
      expect(s.peer).to.match(/^127\.0\.0\.1:\d+$/);
      const p = byKind[pb.ConsumerKind.CONSUMER_KIND_LONG_POLL]!;
      expect(p.peer).to.match(/^127\.0\.0\.1:\d+$/);
      expect(Number(p.sinceMs)).to.be.at.least(Number(s.sinceMs) - 60_000);
    } finally {
      stream.end();
      // Ends the long poll with a message, which is then left to its TTR.
      await post("/v1/topics/billing/messages", { routeKey: "q", body: "" });
      await waiting;
    }
    await waitFor(async () => (await stat("billing")).queues[0].consumers.length === 0, { what: "the consumers to leave the list" });
  });

  it("counts stream messages and bytes per RPC and the streams open, as Prometheus counters and gauges", async () => {
    const ac = new AbortController();
    const res = await fetch(`${base}/v1/topics/orders/queues/paid:consume?ack=auto`, { headers: { authorization: `Bearer ${WORKER}` }, signal: ac.signal });
    const events = new EventReader(res);
    const first = await events.next();
    const metrics = async () => (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })).text();
    const sample = (text: string, series: string) => Number(new RegExp(`^${series.replace(/[{}]/g, "\\$&")} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
    try {
      const text = await metrics();
      expect(text).to.contain("# TYPE gmq_stream_messages_total counter");
      expect(text).to.contain("# TYPE gmq_stream_bytes_total counter");
      expect(text).to.contain("# TYPE gmq_streams_open gauge");
      expect(sample(text, 'gmq_streams_open{method="Consume",protocol="http"}')).to.equal(1);
      expect(sample(text, 'gmq_stream_messages_total{method="Consume",protocol="http",direction="out"}')).to.be.at.least(1);
      expect(sample(text, 'gmq_stream_bytes_total{method="Consume",protocol="http",direction="out"}')).to.be.at.least(Buffer.from(first.body, "base64").length);
    } finally {
      ac.abort();
    }
    await waitFor(async () => sample(await metrics(), 'gmq_streams_open{method="Consume",protocol="http"}') === 0, { what: "the stream to be counted closed" });
  });
});
