// Options of the config table as a real node process applies them: from
// flags and from GMQ_* variables.
import { expect } from "chai";
import { codeOf, connect, grpc, uniqueTopic } from "../helpers/grpc-client.js";
import { startNodeProcess, type NodeProcess } from "../helpers/node-process.js";

const S = grpc.status;

describe("node options (real node)", function () {
  this.timeout(30_000);

  it("serves no HTTP when GMQ_HTTP_ADDR is set and empty, and gRPC as usual", async () => {
    const node = await startNodeProcess({ httpAddrFlag: false, env: { GMQ_HTTP_ADDR: "" } });
    const client = connect(node.grpcAddr);
    try {
      expect(node.httpAddr).to.equal("");
      expect(await client.call<object, { nodeId: number }>("ping", {})).to.include({ nodeId: 1 });
    } finally {
      client.close();
      await node.stop();
      node.cleanup();
    }
  });

  describe("limits set by flags and variables", () => {
    let node: NodeProcess;
    let client: ReturnType<typeof connect>;
    before(async () => {
      node = await startNodeProcess({
        args: ["--max-pop-wait-ms", "500", "--max-list-dead", "5"],
        env: { GMQ_MAX_GRPC_MESSAGE_BYTES: String(64 * 1024) },
      });
      client = connect(node.grpcAddr);
    });
    after(async () => {
      client?.close();
      await node?.stop();
      node?.cleanup();
    });

    it("refuses a Pop that asks to wait longer than --max-pop-wait-ms", async () => {
      const topic = uniqueTopic("popwait");
      await client.call("declareQueue", { topic, bindKey: "q" });
      expect(await codeOf(client.call("pop", { topic, bindKey: "q", waitMs: 501 }))).to.equal(S.INVALID_ARGUMENT);
      expect(await codeOf(client.call("pop", { topic, bindKey: "q", waitMs: 500 }))).to.equal(S.NOT_FOUND);
    });

    it("refuses a ListDead limit above --max-list-dead", async () => {
      const topic = uniqueTopic("listdead");
      await client.call("declareQueue", { topic, bindKey: "q" });
      expect(await codeOf(client.call("listDead", { topic, bindKey: "q", limit: 6 }))).to.equal(S.INVALID_ARGUMENT);
      expect(await client.call("listDead", { topic, bindKey: "q", limit: 5 })).to.deep.equal({ messages: [] });
    });

    it("refuses a gRPC message larger than GMQ_MAX_GRPC_MESSAGE_BYTES with RESOURCE_EXHAUSTED", async () => {
      const topic = uniqueTopic("grpcmsg");
      await client.call("declareQueue", { topic, bindKey: "q" });
      const body = Buffer.alloc(64 * 1024, 1); // under --max-body-bytes (256 KiB), over the gRPC message limit
      expect(await codeOf(client.call("push", { topic, routeKey: "q", body }))).to.equal(S.RESOURCE_EXHAUSTED);
      await client.call("push", { topic, routeKey: "q", body: body.subarray(0, 60 * 1024) });
    });
  });
});
