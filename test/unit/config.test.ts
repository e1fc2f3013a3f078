import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, defaults, loadConfig } from "../../src/config.js";

describe("node configuration", () => {
  it("defaults to a standalone node on loopback with data in ./data", () => {
    const c = loadConfig([], {});
    expect(c).to.deep.include({ grpcAddr: "127.0.0.1:9503", httpAddr: "127.0.0.1:9504", dataDir: "./data", nodeId: 1, etcdEndpoints: [], fsync: "interval" });
  });

  it("accepts the original gmq's Go-style flags as aliases", () => {
    const c = loadConfig(["-tcp_addr=:9600", "-http_addr=:9601", "-node_id=3", "-node_weight=2", "-etcd_endpoints=127.0.0.1:2379"], {});
    expect(c).to.deep.include({ grpcAddr: "127.0.0.1:9600", httpAddr: "127.0.0.1:9601", nodeId: 3, nodeWeight: 2, etcdEndpoints: ["127.0.0.1:2379"] });
  });

  it("takes flags over environment over config file", () => {
    const dir = mkdtempSync(join(tmpdir(), "gmq-cfg-"));
    const file = join(dir, "gmq.json");
    writeFileSync(file, JSON.stringify({ nodeId: 5, nodeWeight: 9, fsync: "never" }));
    const c = loadConfig(["--config", file, "--node-id", "7"], { GMQ_NODE_WEIGHT: "4" });
    expect(c).to.deep.include({ nodeId: 7, nodeWeight: 4, fsync: "never" });
  });

  it("refuses invalid values with a clear message", () => {
    expect(() => loadConfig(["--node-id", "0"], {})).to.throw(ConfigError, /nodeId/);
    expect(() => loadConfig(["--fsync", "sometimes"], {})).to.throw(ConfigError, /fsync/);
    expect(() => loadConfig(["--tls-cert", "x.pem"], {})).to.throw(ConfigError, /together/);
    expect(() => loadConfig(["--bogus"], {})).to.throw(ConfigError);
    expect(() => loadConfig(["--grpc-addr", "nowhere"], {})).to.throw(ConfigError, /host:port/);
  });

  it("lists every option with its default in --help", () => {
    const help = execFileSync(process.execPath, ["--import", "tsx", "src/main.ts", "--help"], { encoding: "utf8" }).replace(/\s+/g, " ");
    for (const key of Object.keys(defaults)) {
      const flag = "--" + key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
      expect(help, flag).to.include(flag);
    }
    expect(help).to.include("alias -tcp_addr");
    expect(help).to.include("default: 127.0.0.1:9503");
  });
});
