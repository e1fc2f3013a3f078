import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, defaults, loadConfig } from "../../src/config.js";
import { README_BEGIN, README_END, helpLine, optionKeys, optionTable, renderReadmeTables, specOf } from "../../src/config-table.js";

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

  it("takes browser origins and host names as lists, and refuses an origin with a path", () => {
    const c = loadConfig(["--http-cors-origins", "https://ops.example.com, http://127.0.0.1:8080"], { GMQ_HTTP_ALLOWED_HOSTS: "broker.internal,*.example.com" });
    expect(c.httpCorsOrigins).to.deep.equal(["https://ops.example.com", "http://127.0.0.1:8080"]);
    expect(c.httpAllowedHosts).to.deep.equal(["broker.internal", "*.example.com"]);
    expect(loadConfig([], { GMQ_HTTP_CORS_ORIGINS: "*" }).httpCorsOrigins).to.deep.equal(["*"]);
    expect(() => loadConfig(["--http-cors-origins", "https://ops.example.com/app"], {})).to.throw(ConfigError, /^httpCorsOrigins: https:\/\/ops\.example\.com\/app is not an origin/);
    expect(() => loadConfig(["--http-cors-origins", "ops.example.com"], {})).to.throw(ConfigError, /httpCorsOrigins/);
  });

  it("lists every option of the table with its bounds, default and variable in --help", () => {
    const help = execFileSync(process.execPath, ["--import", "tsx", "src/main.ts", "--help"], { encoding: "utf8" }).replace(/\s+/g, " ");
    for (const key of optionKeys) {
      const spec = specOf(key);
      expect(help, key).to.include(`--${spec.flag} <value> ${helpLine(spec)}`);
    }
    expect(help).to.include("alias -tcp_addr");
    expect(help).to.include("default: 127.0.0.1:9503");
  });

  it("turns HTTP off when GMQ_HTTP_ADDR is set and empty, as the README says", () => {
    expect(loadConfig([], { GMQ_HTTP_ADDR: "" }).httpAddr).to.equal("");
    expect(loadConfig(["--http-addr", ""], {}).httpAddr).to.equal("");
  });

  it("takes empty variables as values only where empty means something, and as unset elsewhere", () => {
    const c = loadConfig(["--etcd-endpoints", "127.0.0.1:2379", "--tls-cert", "c.pem", "--tls-key", "k.pem"], {
      GMQ_NODE_ID: "",
      GMQ_FSYNC: "",
      GMQ_METRICS: "",
      GMQ_DATA_DIR: "",
      GMQ_AUTH_FILE: "",
    });
    expect(c).to.deep.include({ nodeId: 1, fsync: "interval", metrics: true, dataDir: "./data", authFile: "" });
    expect(loadConfig([], { GMQ_ETCD_ENDPOINTS: "" }).etcdEndpoints).to.deep.equal([]);
    expect(() => loadConfig(["--node-id", ""], {})).to.throw(ConfigError, /nodeId must be a number/);
    expect(() => loadConfig(["--data-dir", ""], {})).to.throw(ConfigError, /dataDir must not be empty/);
  });

  it("accepts every default of the table when given back as a variable", () => {
    const env: NodeJS.ProcessEnv = {};
    for (const key of optionKeys) {
      const d: unknown = optionTable[key].default;
      env[specOf(key).env] = Array.isArray(d) ? d.join(",") : String(d);
    }
    expect(loadConfig([], env)).to.deep.equal(defaults);
  });

  it("names each option alike in the config file, the flag and the variable", () => {
    for (const key of optionKeys) {
      const { flag, env } = specOf(key);
      expect(flag, key).to.equal(key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase()));
      expect(env, key).to.equal("GMQ_" + flag.replace(/-/g, "_").toUpperCase());
    }
  });

  it("keeps the node's limits at their former defaults and checks their bounds", () => {
    expect(defaults).to.deep.include({
      maxBodyBytes: 1024 * 1024,
      maxHttpBodyBytes: 4 * 1024 * 1024,
      maxGrpcMessageBytes: 64 * 1024 * 1024,
      maxPopWaitMs: 60_000,
      maxListDead: 1000,
    });
    const c = loadConfig(["--max-pop-wait-ms", "500", "--max-list-dead", "5"], { GMQ_MAX_GRPC_MESSAGE_BYTES: "65536" });
    expect(c).to.deep.include({ maxPopWaitMs: 500, maxListDead: 5, maxGrpcMessageBytes: 65536 });
    expect(() => loadConfig(["--max-list-dead", "0"], {})).to.throw(ConfigError, /maxListDead must be an integer in 1\.\.100000/);
    expect(() => loadConfig(["--max-grpc-message-bytes", "1.5"], {})).to.throw(ConfigError, /maxGrpcMessageBytes/);
    expect(() => loadConfig(["--segment-bytes", "100000"], {})).to.throw(ConfigError, /multiple of 4096/);
  });

  it("refuses a log level pino does not know", () => {
    expect(() => loadConfig(["--log-level", "verbose"], {})).to.throw(ConfigError, /logLevel must be one of trace, debug, info, warn, error/);
  });

  it("refuses unknown keys in the config file", () => {
    const dir = mkdtempSync(join(tmpdir(), "gmq-cfg-"));
    const file = join(dir, "gmq.json");
    writeFileSync(file, JSON.stringify({ nodeID: 5 }));
    expect(() => loadConfig(["--config", file], {})).to.throw(ConfigError, /unknown key nodeID/);
  });

  it("matches the README's configuration tables (npm run readme:config rewrites them)", () => {
    const readme = readFileSync(join(import.meta.dirname, "../../README.md"), "utf8");
    const begin = readme.indexOf(README_BEGIN);
    const end = readme.indexOf(README_END);
    expect(begin, "README markers").to.be.at.least(0);
    expect(readme.slice(begin + README_BEGIN.length, end).trim()).to.equal(renderReadmeTables());
  });
});
