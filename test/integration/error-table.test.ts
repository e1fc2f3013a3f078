// Walks every error reason a client can provoke through gRPC, the HTTP
// gateway and the original API of a real node, and checks each answer (gRPC
// status and ErrorInfo, HTTP status and JSON, the original's envelope)
// against the README's error table. Reasons no healthy node shows a client
// are named below with where they are checked instead.
import { request, type IncomingHttpHeaders } from "node:http";
import { expect } from "chai";
import { GmqClient, GmqError, Reason } from "../../src/client/index.js";
import type { ConsumeResponse } from "../../src/gen/gmq/v1/broker.js";
import { AuthFile, opsToken, TokenClients } from "../helpers/auth-file.js";
import { decodeStatusDetails, readmeErrorTables } from "../helpers/error-table.js";
import { grpc, uniqueTopic, type Client } from "../helpers/grpc-client.js";
import { startNodeProcess, type NodeProcess } from "../helpers/node-process.js";

const ADMIN = "admin-token-0123456789";
const PRODUCER = "producer-token-0123456789";

/** Reasons not walked over the wire here, and where they are checked. */
const NOT_WALKED: Record<string, string> = {
  DISK_FULL: "needs a full disk: test/store/disk-full.test.ts drives a node's broker and servers over an ENOSPC seam",
  STORAGE_FAILED: "needs a failing disk; mapped by the same storage guard as DISK_FULL (unit table test)",
  RECOVERING: "only while a node recovers its data dir: test/integration/readiness.test.ts holds a node there",
  CLUSTER_UNAVAILABLE: "needs a clustered node whose etcd is down: test/cluster/nodes-view.test.ts stops its etcd",
  SUBSCRIBER_TOO_SLOW: "needs --max-stream-buffer-bytes unread on a subscription: test/integration/limits.test.ts, unit table test",
  CONSUMER_TOO_SLOW: "needs --max-stream-buffer-bytes unread on a Consume stream: test/integration/limits.test.ts (gRPC and HTTP), unit table test",
  TOO_MANY_CHANNELS: "needs a Subscribe of over --max-subscribe-channels channels: test/integration/limits.test.ts (gRPC and HTTP), unit table test",
  FANOUT_TOO_LARGE: "needs a push whose copies pass --max-push-fanout-bytes (at least 1 MiB): test/integration/limits.test.ts, unit table test",
  SHUTTING_DOWN: "only calls in progress while the node stops see it (test/store/disk-full.test.ts, unit table test)",
  CALL_CANCELLED: "sent to a caller that has gone away; unit table test",
  RPC_NOT_IMPLEMENTED: "every RPC has a handler on a node built from this proto; unit table test",
  INTERNAL_ERROR: "a fault in the node; unit table test (logging and mapping)",
  MESSAGE_RECLAIMED: "needs a settled message whose segment was reclaimed: test/integration/inspect.test.ts fills and reclaims a segment",
  MESSAGE_IN_FLIGHT: "needs a message in flight: test/integration/inspect.test.ts deletes and reschedules one it holds",
};

type Token = string | undefined;
type HttpCase = { method: string; path: string; body?: string; type?: string; token?: Token; headers?: Record<string, string> };

interface Walk {
  reason: string;
  grpc?: (as: (token: Token) => Client) => Promise<unknown>;
  gateway?: HttpCase;
  legacy?: HttpCase;
}

describe("every error reason through gRPC, the gateway and the original API, as the README's table says (real node)", function () {
  this.timeout(120_000);
  const tables = readmeErrorTables();
  let auth: AuthFile;
  let node: NodeProcess;
  let base: string;
  const clients = new TokenClients(() => node.grpcAddr);
  const as = (token: Token): Client => clients.as(token);
  const topic = uniqueTopic("errors");
  const missingTopic = uniqueTopic("missing");
  const tracedTopic = uniqueTopic("traced");
  const legacyPush = (data: object | string): HttpCase => ({
    method: "POST",
    path: "/push",
    body: `data=${encodeURIComponent(typeof data === "string" ? data : JSON.stringify(data))}`,
    type: "application/x-www-form-urlencoded",
  });
  const gatewayPush = (routeKey: string, body: string): HttpCase => ({
    method: "POST",
    path: `/v1/topics/${topic}/messages`,
    body: JSON.stringify({ routeKey, body: Buffer.from(body).toString("base64") }),
    type: "application/json",
  });
  const big = "x".repeat(2000); // over --max-body-bytes 1024, under --max-http-body-bytes 8192
  const huge = "y".repeat(10_000); // over --max-http-body-bytes

  const walks: Walk[] = [
    {
      reason: "INVALID_FIELD",
      grpc: (c) => c(ADMIN).call("getTopicStat", { topic: "bad name!" }),
      gateway: { method: "GET", path: "/v1/topics/bad%20name!/stat" },
      legacy: { method: "GET", path: "/getTopicStat?topic=bad%20name!" },
    },
    {
      reason: "PRIORITY_OUT_OF_RANGE",
      grpc: (c) => c(ADMIN).call("push", { topic, routeKey: "q", body: Buffer.from("x"), priority: 10 }),
      gateway: { method: "POST", path: `/v1/topics/${topic}/messages`, body: JSON.stringify({ routeKey: "q", body: "eA==", priority: 10 }), type: "application/json" },
      legacy: legacyPush({ topic, route_key: "q", body: "x", priority: 10 }),
    },
    {
      reason: "MALFORMED_REQUEST",
      grpc: (c) =>
        new Promise((resolve, reject) => {
          const call = c(ADMIN).consume();
          call.on("data", (_: ConsumeResponse) => {});
          call.on("error", reject);
          call.on("end", resolve);
          call.write({ kind: { $case: "update", value: { ackIds: [], nackIds: [], touchIds: [], credit: 1 } } });
        }),
      gateway: { method: "POST", path: `/v1/topics/${topic}/messages`, body: "{oops", type: "application/json" },
      legacy: legacyPush("{oops"),
    },
    { reason: "METHOD_NOT_ALLOWED", gateway: { method: "GET", path: `/v1/topics/${topic}/messages` } },
    {
      reason: "TOPIC_NOT_FOUND",
      grpc: (c) => c(ADMIN).call("getTopicStat", { topic: missingTopic }),
      gateway: { method: "GET", path: `/v1/topics/${missingTopic}/stat` },
      legacy: { method: "GET", path: `/getTopicStat?topic=${missingTopic}` },
    },
    {
      reason: "QUEUE_NOT_FOUND",
      grpc: (c) => c(ADMIN).call("pop", { topic, bindKey: "nope" }),
      gateway: { method: "GET", path: `/v1/topics/${topic}/queues/nope:pop` },
      legacy: { method: "GET", path: `/pop?topic=${topic}&bindKey=nope` },
    },
    {
      reason: "QUEUE_EMPTY",
      grpc: (c) => c(ADMIN).call("pop", { topic, bindKey: "q" }),
      gateway: { method: "GET", path: `/v1/topics/${topic}/queues/q:pop` },
      legacy: { method: "GET", path: `/pop?topic=${topic}&bindKey=q` },
    },
    {
      reason: "NO_DEAD_LETTERS",
      grpc: (c) => c(ADMIN).call("popDead", { topic, bindKey: "q" }),
      gateway: { method: "POST", path: `/v1/topics/${topic}/queues/q/dead:pop` },
    },
    {
      reason: "NOT_IN_FLIGHT",
      grpc: (c) => c(ADMIN).call("ack", { topic, bindKey: "q", id: 12345n }),
      gateway: { method: "POST", path: `/v1/topics/${topic}/queues/q/messages/12345:ack` },
      legacy: { method: "GET", path: `/ack?topic=${topic}&bindKey=q&msgId=12345` },
    },
    {
      reason: "MESSAGE_NOT_FOUND",
      grpc: (c) => c(ADMIN).call("delete", { topic, bindKey: "q", id: 12345n }),
      gateway: { method: "DELETE", path: `/v1/topics/${topic}/queues/q/messages/12345` },
    },
    {
      reason: "TRACE_OFF",
      grpc: (c) => c(ADMIN).call("traceMessage", { topic, id: 12345n }),
      gateway: { method: "GET", path: `/v1/topics/${topic}/messages/12345/trace` },
    },
    {
      reason: "TRACE_NOT_FOUND",
      grpc: (c) => c(ADMIN).call("traceMessage", { topic: tracedTopic, id: 12345n }),
      gateway: { method: "GET", path: `/v1/topics/${tracedTopic}/messages/12345/trace` },
    },
    { reason: "PATH_NOT_FOUND", gateway: { method: "GET", path: "/no/such/route" } },
    {
      reason: "NO_ROUTE",
      grpc: (c) => c(ADMIN).call("push", { topic, routeKey: "zzz", body: Buffer.from("x") }),
      gateway: gatewayPush("zzz", "x"),
      legacy: legacyPush({ topic, route_key: "zzz", body: "x" }),
    },
    {
      reason: "BODY_TOO_LARGE",
      grpc: (c) => c(ADMIN).call("push", { topic, routeKey: "q", body: Buffer.from(big) }),
      gateway: gatewayPush("q", big),
      legacy: legacyPush({ topic, route_key: "q", body: big }),
    },
    {
      reason: "REQUEST_TOO_LARGE",
      gateway: gatewayPush("q", huge),
      legacy: legacyPush({ topic, route_key: "q", body: huge }),
    },
    {
      reason: "UNSUPPORTED_CONTENT_TYPE",
      gateway: { ...gatewayPush("q", "x"), type: "text/plain" },
    },
    {
      reason: "METADATA_TOO_LARGE",
      grpc: (c) => {
        const md = new grpc.Metadata();
        for (let i = 0; i < 20; i++) md.set(`x-filler-${i}`, "z".repeat(1000)); // over 16 KiB in all
        const client = c(ADMIN) as unknown as { listTopics(req: object, md: grpc.Metadata, cb: (err: grpc.ServiceError | null) => void): void };
        return new Promise<void>((resolve, reject) => client.listTopics({}, md, (err) => (err ? reject(err) : resolve())));
      },
    },
    {
      reason: "HOST_NOT_ALLOWED",
      gateway: { method: "GET", path: "/v1/topics", headers: { host: "rebound.example:80" } },
    },
    {
      reason: "CROSS_SITE_REFUSED",
      gateway: { method: "GET", path: "/v1/topics", headers: { origin: "https://other.example" } },
    },
    {
      reason: "TOKEN_REQUIRED",
      grpc: (c) => c(undefined).call("getTopicStat", { topic }),
      gateway: { method: "GET", path: `/v1/topics/${topic}/stat`, token: undefined },
      legacy: { method: "GET", path: `/getTopicStat?topic=${topic}`, token: undefined },
    },
    {
      reason: "TOKEN_UNKNOWN",
      grpc: (c) => c("not-a-token-of-this-node").call("getTopicStat", { topic }),
      gateway: { method: "GET", path: `/v1/topics/${topic}/stat`, token: "not-a-token-of-this-node" },
      legacy: { method: "GET", path: `/getTopicStat?topic=${topic}`, token: "not-a-token-of-this-node" },
    },
    {
      reason: "NOT_GRANTED",
      grpc: (c) => c(PRODUCER).call("push", { topic, routeKey: "q", body: Buffer.from("x") }),
      gateway: { ...gatewayPush("q", "x"), token: PRODUCER },
      legacy: { ...legacyPush({ topic, route_key: "q", body: "x" }), token: PRODUCER },
    },
  ];

  /** Over node:http rather than fetch, which sets Host itself. */
  const http = (c: HttpCase): Promise<{ status: number; headers: IncomingHttpHeaders; body: Record<string, unknown> }> => {
    const token = "token" in c ? c.token : ADMIN;
    const at = node.httpAddr.lastIndexOf(":");
    const headers = { ...(c.type && { "content-type": c.type }), ...(token && { authorization: `Bearer ${token}` }), ...c.headers };
    return new Promise((resolve, reject) => {
      const req = request({ host: node.httpAddr.slice(0, at), port: Number(node.httpAddr.slice(at + 1)), path: c.path, method: c.method, headers }, (res) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) as Record<string, unknown> }));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(c.body);
    });
  };

  before(async () => {
    auth = new AuthFile([opsToken(ADMIN), { name: "orders-api", token: PRODUCER, push: ["orders"] }]);
    node = await startNodeProcess({
      args: ["--auth-file", auth.file, "--max-body-bytes", "1024", "--max-http-body-bytes", "8192", "--pprof", "true"],
    });
    base = `http://${node.httpAddr}`;
    await as(ADMIN).call("declareQueue", { topic, bindKey: "q" });
    await as(ADMIN).call("config", { topic: tracedTopic, trace: true });
  });

  after(async () => {
    clients.closeAll();
    await node?.stop();
    node?.cleanup();
    auth?.remove();
  });

  it("walks every reason of the README's table, or names where it is checked", () => {
    const walked = [...walks.map((w) => w.reason), "PROFILE_IN_PROGRESS"]; // the last: its own test below
    expect(new Set(walked).size).to.equal(walked.length);
    expect([...walked, ...Object.keys(NOT_WALKED)].sort()).to.deep.equal([...tables.reasons.keys()].sort());
  });

  for (const walk of walks) {
    it(`answers ${walk.reason} with the README's code and statuses`, async () => {
      const row = tables.reasons.get(walk.reason);
      expect(row, `README lists ${walk.reason}`).not.to.equal(undefined);
      const code = tables.codes.get(row!.code)!;

      if (walk.grpc) {
        let err: grpc.ServiceError | undefined;
        try {
          await walk.grpc(as);
        } catch (e) {
          err = e as grpc.ServiceError;
        }
        expect(err, "gRPC call fails").not.to.equal(undefined);
        expect(err!.code, "gRPC status").to.equal(code.grpc);
        const bin = err!.metadata.get("grpc-status-details-bin")[0];
        expect(bin, "grpc-status-details-bin").to.be.instanceOf(Buffer);
        const st = decodeStatusDetails(bin as Buffer);
        expect(st.code).to.equal(code.grpc);
        expect(st.message).to.equal(err!.details);
        expect(st.details.map((d) => [d.typeUrl, d.domain, d.reason])).to.deep.equal([
          ["type.googleapis.com/google.rpc.ErrorInfo", "gmq.v1", walk.reason],
        ]);
      }

      if (walk.gateway) {
        const r = await http(walk.gateway);
        expect(r.status, "gateway HTTP status").to.equal(row!.http);
        expect(r.body).to.include({ code: row!.code, reason: walk.reason });
        if (walk.reason === "METHOD_NOT_ALLOWED") expect(r.headers["allow"]).to.equal("POST");
      }

      if (walk.legacy) {
        const r = await http(walk.legacy);
        // The original answered every failure with 200; the HTTP layer's own refusals keep their status.
        expect(r.status, "original API HTTP status").to.equal(row!.http === code.http ? 200 : row!.http);
        expect(r.body).to.include({ code: 1, error: row!.code, reason: walk.reason });
      }
    });
  }

  it("answers PROFILE_IN_PROGRESS (an operator endpoint) with the README's HTTP status", async () => {
    const row = tables.reasons.get("PROFILE_IN_PROGRESS")!;
    const profile = (seconds: number) => fetch(`${base}/debug/pprof/profile?seconds=${seconds}`, { headers: { authorization: `Bearer ${ADMIN}` } });
    type Refusal = { status: number; body: Record<string, unknown> };
    let refused: Refusal | undefined;
    // Probes run beside a long profile until one is refused. A probe that got
    // in first can make the long one the refused call instead: then try again.
    while (!refused) {
      let longDone = false;
      const long = profile(3)
        .then(async (res) => ({ status: res.status, bytes: (await res.arrayBuffer()).byteLength }))
        .finally(() => (longDone = true));
      let probeRefused: Refusal | undefined;
      while (!longDone) {
        const probe = await profile(0.05);
        if (probe.status === 200) {
          await probe.arrayBuffer();
          continue;
        }
        probeRefused = { status: probe.status, body: (await probe.json()) as Record<string, unknown> };
        break;
      }
      if ((await long).status === 200) refused = probeRefused;
    }
    expect(refused!.status).to.equal(row.http);
    expect(refused!.body).to.include({ code: row.code, reason: "PROFILE_IN_PROGRESS" });
  });

  it("gives the SDK the reason: pop resolves nothing only for an empty queue, and a push without a route says NO_ROUTE", async () => {
    const client = await GmqClient.connect({ addresses: [node.grpcAddr], token: ADMIN });
    try {
      expect(await client.pop(topic, "q")).to.equal(undefined);
      let popErr: unknown;
      await client.pop(topic, "qq").catch((e: unknown) => (popErr = e));
      expect(popErr).to.be.instanceOf(GmqError);
      expect((popErr as GmqError).reason).to.equal(Reason.QUEUE_NOT_FOUND);
      let pushErr: unknown;
      await client.push(topic, "x", { routeKey: "zzz" }).catch((e: unknown) => (pushErr = e));
      expect(pushErr).to.be.instanceOf(GmqError);
      expect((pushErr as GmqError).reason).to.equal(Reason.NO_ROUTE);
      let deadErr: unknown;
      await client.popDead(missingTopic, "q").catch((e: unknown) => (deadErr = e));
      expect((deadErr as GmqError).reason).to.equal(Reason.TOPIC_NOT_FOUND);
      expect(await client.popDead(topic, "q")).to.equal(undefined);
    } finally {
      await client.close();
    }
  });
});
