// What a real node does with awkward gRPC metadata: a token with trailing
// whitespace (as a token file's newline leaves it) and 100 KB of metadata.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { GmqClient } from "../../src/client/index.js";
import { reasonFromTrailers } from "../../src/client/errors.js";
import { connect, grpc, type Client } from "../helpers/grpc-client.js";
import { startNodeProcess, type NodeProcess } from "../helpers/node-process.js";

const TOKEN = "limits-admin-token-0123456789";

describe("gRPC metadata limits and tokens (real node)", function () {
  this.timeout(60_000);
  let dir: string;
  let node: NodeProcess;
  let client: Client;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "gmq-limits-"));
    const file = join(dir, "auth.json");
    writeFileSync(file, JSON.stringify({ tokens: [{ name: "ops", token: TOKEN, admin: ["*"], push: ["*"], consume: ["*"] }] }));
    node = await startNodeProcess({ args: ["--auth-file", file] });
    client = connect(node.grpcAddr);
  });

  after(async () => {
    client?.close();
    await node?.stop();
    node?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The status a unary call ends with, given its metadata; a deadline far away, so a hang would show as DEADLINE_EXCEEDED. */
  const statusOf = (metadata: grpc.Metadata): Promise<{ code: grpc.status; details: string; reason: string }> =>
    new Promise((resolve) => {
      (client as unknown as { listTopics: Function }).listTopics({}, metadata, { deadline: Date.now() + 50_000 }, (err: grpc.ServiceError | null) =>
        resolve(err ? { code: err.code, details: err.details, reason: reasonFromTrailers(err.metadata) } : { code: grpc.status.OK, details: "", reason: "" }),
      );
    });

  it("accepts a token with trailing whitespace from the SDK, as the HTTP gateway does", async () => {
    const padded = `${TOKEN} \n`;
    const sdk = await GmqClient.connect({ addresses: [node.grpcAddr], token: padded, pushStream: false, maxAttempts: 1 });
    try {
      expect(await sdk.declareQueue("padded-token", "q")).to.equal(true);
      expect((await sdk.listTopics()).map((t) => t.topic)).to.include("padded-token");
    } finally {
      await sdk.close();
    }
    const http = await fetch(`http://${node.httpAddr}/v1/topics`, { headers: { authorization: `Bearer ${TOKEN} ` } });
    expect(http.status).to.equal(200);
  });

  it("tells a raw gRPC client whose padded token HTTP/2 dropped why it is unauthenticated", async () => {
    const md = new grpc.Metadata();
    md.set("authorization", `Bearer ${TOKEN} `);
    const st = await statusOf(md);
    expect(st.code).to.equal(grpc.status.UNAUTHENTICATED);
    expect(st.reason).to.equal("TOKEN_REQUIRED");
    expect(st.details).to.match(/leading or trailing whitespace/);
  });

  it("refuses 100 KB of request metadata with RESOURCE_EXHAUSTED (reason METADATA_TOO_LARGE) naming the limit, and serves the next call", async () => {
    const md = new grpc.Metadata();
    md.set("authorization", `Bearer ${TOKEN}`);
    for (let i = 0; i < 100; i++) md.set(`x-filler-${i}`, `${i}:`.padEnd(1000, "x"));
    const st = await statusOf(md);
    expect(st.code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
    expect(st.reason).to.equal("METADATA_TOO_LARGE");
    expect(st.details).to.match(/^request metadata is \d+ bytes; this node accepts at most 16384$/);
    const ok = new grpc.Metadata();
    ok.set("authorization", `Bearer ${TOKEN}`);
    ok.set("x-filler", "y".repeat(8000));
    expect((await statusOf(ok)).code).to.equal(grpc.status.OK);
  });
});
