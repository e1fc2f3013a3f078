// The node's one options object: defaults, then an optional JSON config file,
// then GMQ_* environment variables, then flags. Validated once at start.
// Every option is a row of config-table.ts; nothing here names one except the
// checks that relate two options.
import { readFileSync } from "node:fs";
import { Command, Option } from "commander";
import { defaultConfig, helpLine, optionKeys, optionTable, specOf, type NodeConfig, type OptionKey, type OptionSpec } from "./config-table.js";

export type { NodeConfig } from "./config-table.js";
export { specOf } from "./config-table.js";
export type FsyncPolicy = NodeConfig["fsync"];

export const defaults: Readonly<NodeConfig> = Object.freeze(defaultConfig());

export class ConfigError extends Error {
  override name = "ConfigError";
}

const show = (raw: unknown) => JSON.stringify(raw);

/** Turns a value from a flag, a variable or the config file into the option's type, checking it against the row. */
function coerce(key: OptionKey, raw: unknown): unknown {
  const spec: OptionSpec = specOf(key);
  switch (spec.type) {
    case "list": {
      const items = Array.isArray(raw)
        ? raw.map(String)
        : String(raw)
            .split(",")
            .map((s) => s.trim())
            .filter(Boolean);
      for (const item of items) {
        if (spec.item && !spec.item.pattern.test(item)) throw new ConfigError(`${key}: ${item} is not ${spec.item.like}`);
      }
      return items;
    }
    case "int": {
      const n = typeof raw === "string" && raw.trim() === "" ? NaN : Number(raw);
      if (!Number.isFinite(n)) throw new ConfigError(`${key} must be a number, got ${show(raw)}`);
      if (!Number.isInteger(n) || n < spec.min || n > spec.max) throw new ConfigError(`${key} must be an integer in ${spec.min}..${spec.max}, got ${n}`);
      if (spec.multipleOf && n % spec.multipleOf !== 0) throw new ConfigError(`${key} must be a multiple of ${spec.multipleOf}, got ${n}`);
      return n;
    }
    case "bool": {
      if (typeof raw === "boolean") return raw;
      const s = String(raw).toLowerCase();
      if (["1", "true", "yes", "on"].includes(s)) return true;
      if (["0", "false", "no", "off"].includes(s)) return false;
      throw new ConfigError(`${key} must be true or false, got ${show(raw)}`);
    }
    case "enum": {
      const s = String(raw);
      if (!spec.values.includes(s)) throw new ConfigError(`${key} must be one of ${spec.values.join(", ")}, got ${show(raw)}`);
      return s;
    }
    case "string":
    case "addr": {
      const s = String(raw);
      if (s === "") {
        if (spec.empty === undefined) throw new ConfigError(`${key} must not be empty`);
        return s;
      }
      if (spec.type === "string") return s;
      // Go's ":9503" means every interface; we keep loopback unless a host is given.
      const addr = s.startsWith(":") ? `127.0.0.1${s}` : s;
      if (!/^[^\s]+:\d{1,5}$/.test(addr)) throw new ConfigError(`${key} must be host:port, got ${addr}`);
      return addr;
    }
  }
}

/** Whether "" is a value of the option (rather than "not set"). */
function takesEmpty(spec: OptionSpec): boolean {
  return (spec.type === "string" || spec.type === "addr" || spec.type === "list") && spec.empty !== undefined;
}

/** Rewrites the original gmq's Go-style flags (-tcp_addr=:9503) to ours (--grpc-addr=:9503). */
function rewriteAliases(argv: string[]): string[] {
  return argv.map((arg) => {
    const m = /^--?([a-z_]+)(=.*)?$/.exec(arg);
    const key = m && optionKeys.find((k) => specOf(k).alias === m[1]);
    return key && m ? `--${optionTable[key].flag}${m[2] ?? ""}` : arg;
  });
}

/** Each option's commander attribute (the camelCased flag), to read the parsed flags back by key. */
const flagAttribute = new Map<OptionKey, string>();

function program(): Command {
  const cmd = new Command("gnode")
    .description("gmq broker node")
    .allowExcessArguments(false)
    .addOption(new Option("-c, --config <file>", "JSON config file: an object keyed by the flags in camelCase (nodeId, maxBodyBytes, …)").env("GMQ_CONFIG"));
  for (const key of optionKeys) {
    const spec = specOf(key);
    const option = new Option(`--${spec.flag} <value>`, helpLine(spec));
    flagAttribute.set(key, option.attributeName());
    cmd.addOption(option);
  }
  return cmd;
}

export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): NodeConfig {
  const cmd = program().exitOverride((err) => {
    if (err.code === "commander.helpDisplayed" || err.code === "commander.version") process.exit(0);
    throw new ConfigError(err.message);
  });
  cmd.parse(rewriteAliases(argv), { from: "user" });
  const flags = cmd.opts<Record<string, unknown>>();

  const merged: Record<string, unknown> = defaultConfig();
  const file = (flags["config"] as string | undefined) ?? env["GMQ_CONFIG"];
  if (file) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, "utf8"));
    } catch (err) {
      throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new ConfigError(`config file ${file} must hold a JSON object`);
    for (const [k, v] of Object.entries(parsed)) {
      if (!Object.hasOwn(optionTable, k)) throw new ConfigError(`config file ${file}: unknown key ${k}`);
      merged[k] = coerce(k as OptionKey, v);
    }
  }
  for (const key of optionKeys) {
    const spec = specOf(key);
    const fromEnv = env[spec.env];
    // An empty variable is a value only where the table says what empty means
    // (GMQ_HTTP_ADDR= turns HTTP off); elsewhere it counts as unset.
    if (fromEnv !== undefined && (fromEnv !== "" || takesEmpty(spec))) merged[key] = coerce(key, fromEnv);
  }
  for (const key of optionKeys) {
    const fromFlag = flags[flagAttribute.get(key) ?? key];
    if (fromFlag !== undefined) merged[key] = coerce(key, fromFlag);
  }
  const config = merged as NodeConfig;
  validate(config);
  return config;
}

/** The checks that relate two options; each option's own bounds are checked by coerce. */
function validate(c: NodeConfig): void {
  if (c.maxBodyBytes + 4096 > c.segmentBytes) throw new ConfigError("segmentBytes must exceed maxBodyBytes by at least 4 KiB");
  if (Boolean(c.tlsCert) !== Boolean(c.tlsKey)) throw new ConfigError("--tls-cert and --tls-key (tlsCert, tlsKey) must be given together");
  if (c.tlsClientCa && !c.tlsCert) throw new ConfigError("--tls-client-ca (tlsClientCa) needs --tls-cert and --tls-key");
}
