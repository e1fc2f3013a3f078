// Token auth in tests: a temporary --auth-file, and gRPC clients that carry a
// token, closed together.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bearerToken } from "../../src/client/connection.js";
import { connect, type Client } from "./grpc-client.js";

export interface TokenEntry {
  name: string;
  token?: string;
  tokenSha256?: string;
  push?: string[];
  consume?: string[];
  admin?: string[];
}

/** A token with every grant on every topic. */
export const opsToken = (token: string, name = "ops"): TokenEntry => ({ name, token, admin: ["*"], push: ["*"], consume: ["*"] });

export class AuthFile {
  readonly dir = mkdtempSync(join(tmpdir(), "gmq-auth-"));
  readonly file = join(this.dir, "auth.json");

  constructor(tokens: TokenEntry[]) {
    this.write(tokens);
  }

  /** Replaces the file's content (a node reads it again on SIGHUP); a string is written as it is. */
  write(tokens: TokenEntry[] | string): void {
    writeFileSync(this.file, typeof tokens === "string" ? tokens : JSON.stringify({ tokens }));
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** gRPC clients of one node, each sending its token (none for undefined). */
export class TokenClients {
  private readonly open: Client[] = [];

  constructor(private readonly grpcAddr: () => string) {}

  as(token?: string): Client {
    const c = connect(this.grpcAddr(), undefined, token ? { interceptors: [bearerToken(token)] } : {});
    this.open.push(c);
    return c;
  }

  closeAll(): void {
    for (const c of this.open.splice(0)) c.close();
  }
}
