// What users run: `npm start` and bin/gnode.js run src/ built into dist/ by
// scripts/build.mjs. The built node must find its proto, assets and
// package.json from there, and behave as the sources do.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { connect } from "../helpers/grpc-client.js";
import { BUILT_MAIN, ensureBuilt, startNodeProcess } from "../helpers/node-process.js";

const root = join(import.meta.dirname, "../..");

describe("the built node (dist/)", function () {
  this.timeout(60_000);

  before(() => {
    ensureBuilt();
  });

  it("builds every source file and asset into dist/", () => {
    for (const f of ["main.js", "api/grpc-server.js", "cli/main.js", "api/dashboard/index.html", ".built", "bundles/node.cjs", "bundles/node.cjs.v8-cache", "bundles/cli.cjs", "bundles/cli.cjs.v8-cache"]) expect(existsSync(join(root, "dist", f)), f).to.equal(true);
    expect(BUILT_MAIN).to.equal(join(root, "dist/main.js"));
  });

  it("serves gRPC, the gateway, the OpenAPI document and the dashboard, and stops cleanly", async () => {
    const node = await startNodeProcess({ built: true });
    const client = connect(node.grpcAddr);
    try {
      const pong = await client.call<object, { nodeId: number; version: string }>("ping", {});
      expect(pong.nodeId).to.equal(1);
      expect(pong.version).to.match(/^\d+\.\d+\.\d+/);
      await client.call("declareQueue", { topic: "built", bindKey: "q" });
      const pushed = await fetch(`http://${node.httpAddr}/v1/topics/built/messages`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ routeKey: "q", body: "aGk=" }) });
      expect(pushed.status).to.equal(200);
      const popped = await client.call<object, { message: { body: Buffer } }>("pop", { topic: "built", bindKey: "q" });
      expect(popped.message.body.toString()).to.equal("hi");
      expect((await fetch(`http://${node.httpAddr}/openapi.json`)).status).to.equal(200);
      expect((await fetch(`http://${node.httpAddr}/dashboard`)).status).to.equal(200);
    } finally {
      client.close();
      expect(await node.stop()).to.equal(0);
      node.cleanup();
    }
  });

  it("runs the bin launchers", () => {
    expect(execFileSync(process.execPath, [join(root, "bin/gnode.js"), "--help"]).toString()).to.include("Usage: gnode");
    expect(execFileSync(process.execPath, [join(root, "bin/gmq.js"), "--help"]).toString()).to.include("Usage: gmq");
  });
});
