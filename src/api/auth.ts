// Optional token auth (--auth-file). A client presents a bearer token
// (`authorization: Bearer <token>` as gRPC metadata or HTTP header); each
// token names the topics it may push to, consume from and administer.
// Every entry point (gRPC unary and streams, the HTTP gateway and streams,
// the original's API, the operator endpoints) asks `authorize` before it
// touches the broker, with the action and topic taken from one table.
import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { BrokerError, ErrorReason } from "../broker/index.js";

export type Action = "push" | "consume" | "admin";
const ACTIONS: readonly Action[] = ["push", "consume", "admin"];

/**
 * What each unary RPC needs. The topic is read from the request's `topic`
 * field (a pub/sub channel counts as a topic); `node` means every topic
 * ("*"), for calls that see the whole node. Ping is open, like /healthz.
 */
export const RPC_ACTIONS: Readonly<Record<string, { action: Action | readonly Action[]; scope: "topic" | "channel" | "node" | "topic-or-node" } | "open">> = {
  Config: { action: "admin", scope: "topic" },
  DeclareQueue: { action: "admin", scope: "topic" },
  DeleteQueue: { action: "admin", scope: "topic" },
  ListQueues: { action: "admin", scope: "topic" },
  GetTopicStat: { action: "admin", scope: "topic" },
  Redrive: { action: "admin", scope: "topic" },
  ListTopics: { action: "admin", scope: "node" },
  ListNodes: { action: "admin", scope: "node" },
  GetHistory: { action: "admin", scope: "topic-or-node" },
  Push: { action: "push", scope: "topic" },
  PushBatch: { action: "push", scope: "topic" },
  PushStream: { action: "push", scope: "topic" },
  Publish: { action: "push", scope: "channel" },
  Pop: { action: "consume", scope: "topic" },
  Consume: { action: "consume", scope: "topic" },
  Ack: { action: "consume", scope: "topic" },
  Nack: { action: "consume", scope: "topic" },
  Touch: { action: "consume", scope: "topic" },
  PopDead: { action: "consume", scope: "topic" },
  ListDead: { action: "consume", scope: "topic" },
  Subscribe: { action: "consume", scope: "channel" },
  // Seeing single messages and their traces: consume or admin; changing them: admin.
  GetMessage: { action: ["consume", "admin"], scope: "topic" },
  Peek: { action: ["consume", "admin"], scope: "topic" },
  Delete: { action: "admin", scope: "topic" },
  Reschedule: { action: "admin", scope: "topic" },
  PurgeQueue: { action: "admin", scope: "topic" },
  TraceMessage: { action: ["consume", "admin"], scope: "topic" },
  Ping: "open",
  DeleteTopic: { action: "admin", scope: "topic" },
};

/** The action an RPC needs, known from its name alone (before its request is read); undefined for open RPCs. */
export function actionOfRpc(rpc: string): Action | readonly Action[] | undefined {
  const rule = RPC_ACTIONS[rpc];
  if (rule === "open") return undefined;
  return rule === undefined ? "admin" : rule.action;
}

/** The RPCs served without a token. */
export const OPEN_RPCS: ReadonlySet<string> = new Set(Object.keys(RPC_ACTIONS).filter((rpc) => RPC_ACTIONS[rpc] === "open"));

/** One token's grants: per action, topic patterns where `*` matches any run of characters. */
interface Grant {
  name: string;
  digest: Buffer;
  patterns: Record<Action, RegExp[]>;
}

export interface Authorizer {
  /**
   * Throws UNAUTHENTICATED without a known token and PERMISSION_DENIED when
   * the token may not do `action` (one of them, for a list) on every one of
   * `topics` ("*" = the node). Returns the token's name.
   */
  authorize(authorization: string | undefined, action: Action | readonly Action[], topics: readonly string[]): string;
  /** The check for an RPC by its name in the proto, given its request message; returns the token's name (undefined for an open RPC). */
  authorizeRpc(authorization: string | undefined, rpc: string, request: object): string | undefined;
  /**
   * The check possible before a request's body is read: a known token that
   * may do `action` (one of them, for a list) on some topic. Throws like authorize.
   */
  authenticate(authorization: string | undefined, action: Action | readonly Action[]): void;
  /** Runs listener after each reload that changed the tokens (open streams are checked again then). */
  onReload(listener: () => void): void;
  /** Names of the tokens, for the startup log (never the secrets). */
  readonly names: readonly string[];
}

const sha256 = (s: string): Buffer => createHash("sha256").update(s, "utf8").digest();

function patternOf(p: string): RegExp {
  return new RegExp(`^${p.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`);
}

/** Parses an auth file's JSON (see README "Authentication"); throws with the file's name and the entry at fault. */
export function parseAuthFile(text: string, file: string, onRefused?: RefusalObserver): Authorizer {
  const grants = parseGrants(text, file);
  return createAuthorizer(() => grants, onRefused).authorizer;
}

/** Told of every refusal (UNAUTHENTICATED or PERMISSION_DENIED), for metrics and logs. */
export type RefusalObserver = (err: BrokerError) => void;

function parseGrants(text: string, file: string): Grant[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`auth file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  const tokens = (doc as { tokens?: unknown } | null)?.tokens;
  if (!Array.isArray(tokens) || tokens.length === 0) throw new Error(`auth file ${file} must hold {"tokens": [...]} with at least one token`);
  const grants: Grant[] = tokens.map((t: unknown, i) => {
    const where = `auth file ${file}, tokens[${i}]`;
    if (typeof t !== "object" || t === null || Array.isArray(t)) throw new Error(`${where} must be an object`);
    const e = t as Record<string, unknown>;
    for (const k of Object.keys(e)) {
      if (!["name", "token", "tokenSha256", ...ACTIONS].includes(k)) throw new Error(`${where}: unknown key ${k}`);
    }
    if (typeof e["name"] !== "string" || !e["name"]) throw new Error(`${where}: name must be a non-empty string`);
    let digest: Buffer;
    if (typeof e["token"] === "string" && e["tokenSha256"] === undefined) {
      if (e["token"].length < 16) throw new Error(`${where} (${e["name"]}): token must be at least 16 characters`);
      digest = sha256(e["token"]);
    } else if (typeof e["tokenSha256"] === "string" && e["token"] === undefined) {
      if (!/^[0-9a-f]{64}$/i.test(e["tokenSha256"])) throw new Error(`${where} (${e["name"]}): tokenSha256 must be 64 hex digits`);
      digest = Buffer.from(e["tokenSha256"], "hex");
    } else {
      throw new Error(`${where} (${e["name"]}): give exactly one of token and tokenSha256`);
    }
    const patterns = {} as Record<Action, RegExp[]>;
    for (const a of ACTIONS) {
      const list = e[a] ?? [];
      if (!Array.isArray(list) || !list.every((p) => typeof p === "string" && p.length > 0)) {
        throw new Error(`${where} (${e["name"]}): ${a} must be a list of topic patterns such as ["orders", "billing.*", "*"]`);
      }
      patterns[a] = (list as string[]).map(patternOf);
    }
    return { name: e["name"], digest, patterns };
  });
  const seen = new Set<string>();
  for (const g of grants) {
    const key = g.digest.toString("hex");
    if (seen.has(key)) throw new Error(`auth file ${file}: token of ${g.name} is given twice`);
    seen.add(key);
  }
  return grants;
}

export interface ReloadableAuthorizer extends Authorizer {
  /** Reads the file again and answers with its tokens from then on; on an error the old tokens stay and the error is thrown. */
  reload(): void;
}

export function loadAuthFile(file: string, onRefused?: RefusalObserver): ReloadableAuthorizer {
  const read = (): Grant[] => {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new Error(`cannot read auth file ${file}: ${(err as Error).message}`);
    }
    return parseGrants(text, file);
  };
  let grants = read();
  const { authorizer, reloaded } = createAuthorizer(() => grants, onRefused);
  return Object.assign(authorizer, {
    reload() {
      grants = read();
      reloaded();
    },
  });
}

/** current() is read on every check, so a reload takes effect for the next call. */
function createAuthorizer(current: () => readonly Grant[], onRefused: RefusalObserver = () => {}): { authorizer: Authorizer; reloaded: () => void } {
  const listeners: (() => void)[] = [];
  const find = (authorization: string | undefined): Grant => {
    const m = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization) : null;
    if (!m) throw new BrokerError(ErrorReason.TOKEN_REQUIRED, "this node requires a token: send the header authorization: Bearer <token> (over gRPC without leading or trailing whitespace, which HTTP/2 drops)");
    const digest = sha256(m[1]!);
    // Compare digests in constant time, and look at every grant: timing tells nothing about the tokens.
    let found: Grant | undefined;
    for (const g of current()) if (timingSafeEqual(g.digest, digest)) found = g;
    if (!found) throw new BrokerError(ErrorReason.TOKEN_UNKNOWN, "unknown token");
    return found;
  };

  // Every refusal leaves through here, so each one is counted once.
  const observed =
    <A extends unknown[], R>(check: (...args: A) => R) =>
    (...args: A): R => {
      try {
        return check(...args);
      } catch (err) {
        if (err instanceof BrokerError) onRefused(err);
        throw err;
      }
    };

  const actionsOf = (action: Action | readonly Action[]): readonly Action[] => (typeof action === "string" ? [action] : action);

  const authenticate = (authorization: string | undefined, action: Action | readonly Action[]): void => {
    const grant = find(authorization);
    const actions = actionsOf(action);
    if (actions.every((a) => grant.patterns[a].length === 0)) throw new BrokerError(ErrorReason.NOT_GRANTED, `token ${grant.name} may not ${actions.join(" or ")} on any topic`);
  };

  const authorize = (authorization: string | undefined, action: Action | readonly Action[], topics: readonly string[]): string => {
    const grant = find(authorization);
    const actions = actionsOf(action);
    for (const topic of topics) {
      if (!actions.some((a) => grant.patterns[a].some((p) => p.test(topic)))) {
        const what = topic === "*" ? "the whole node" : `topic ${JSON.stringify(topic)}`;
        throw new BrokerError(ErrorReason.NOT_GRANTED, `token ${grant.name} may not ${actions.join(" or ")} on ${what}`);
      }
    }
    return grant.name;
  };

  const authorizer: Authorizer = {
    get names() {
      return current().map((g) => g.name);
    },
    authorize: observed(authorize),
    authenticate: observed(authenticate),
    onReload(listener) {
      listeners.push(listener);
    },
    authorizeRpc: observed((authorization: string | undefined, rpc: string, request: object) => {
      const rule = RPC_ACTIONS[rpc];
      // An RPC missing from the table (added to the proto later) needs node-wide admin until it is listed.
      if (rule === undefined) return authorize(authorization, "admin", ["*"]);
      if (rule === "open") return undefined;
      const r = request as { topic?: unknown; channel?: unknown; channels?: unknown };
      let topics: readonly string[];
      if (rule.scope === "node") topics = ["*"];
      else if (rule.scope === "topic-or-node") topics = [r.topic ? String(r.topic) : "*"];
      else if (rule.scope === "topic") topics = [String(r.topic ?? "")];
      else topics = Array.isArray(r.channels) ? (r.channels as string[]) : [String(r.channel ?? "")];
      return authorize(authorization, rule.action, topics);
    }),
  };
  return {
    authorizer,
    reloaded() {
      for (const l of listeners) l();
    },
  };
}
