// The README's error tables (section "Error codes and reasons") as data, and
// an independent decoder of the gRPC status details (protobufjs over the
// google/rpc protos, as any generated client would read them), so tests can
// check the node against what the README promises.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import protobuf from "protobufjs";

export interface CodeRow {
  grpc: number;
  http: number;
}

export interface ReasonRow {
  code: string;
  http: number;
  meaning: string;
}

export interface ErrorTables {
  codes: Map<string, CodeRow>;
  reasons: Map<string, ReasonRow>;
}

const ROOT = join(import.meta.dirname, "../..");

function tableRows(lines: string[], header: string): string[][] {
  const at = lines.findIndex((l) => l.replace(/\s+/g, " ").trim() === header);
  if (at < 0) throw new Error(`README: no table with header ${header}`);
  const rows: string[][] = [];
  for (const line of lines.slice(at + 2)) {
    if (!line.startsWith("|")) break;
    rows.push(line.slice(1, -1).split("|").map((c) => c.trim()));
  }
  return rows;
}

export function readmeErrorTables(): ErrorTables {
  const text = readFileSync(join(ROOT, "README.md"), "utf8");
  const start = text.indexOf("\n### Error codes and reasons\n");
  if (start < 0) throw new Error("README: no section 'Error codes and reasons'");
  const rest = text.slice(start + 1);
  const end = rest.slice(4).search(/\n##+ /);
  const lines = (end < 0 ? rest : rest.slice(0, end + 4)).split("\n");
  const codes = new Map<string, CodeRow>();
  for (const [code, grpc, http] of tableRows(lines, "| code | gRPC status | HTTP status |")) {
    codes.set(code!, { grpc: Number(grpc), http: Number(http) });
  }
  const reasons = new Map<string, ReasonRow>();
  for (const [reason, code, http, meaning] of tableRows(lines, "| reason | code | HTTP status | meaning |")) {
    reasons.set(reason!, { code: code!, http: Number(http), meaning: meaning! });
  }
  return { codes, reasons };
}

const root = new protobuf.Root();
root.resolvePath = (_origin, target) => (target.startsWith("google/protobuf/") ? target : join(ROOT, "node_modules/google-proto-files", target));
root.loadSync(["google/rpc/status.proto", "google/rpc/error_details.proto"]);
const StatusType = root.lookupType("google.rpc.Status");
const ErrorInfoType = root.lookupType("google.rpc.ErrorInfo");

export interface DecodedStatus {
  code: number;
  message: string;
  details: { typeUrl: string; reason?: string; domain?: string; metadata?: Record<string, string> }[];
}

/** A grpc-status-details-bin value, decoded by protobufjs from the google/rpc protos. */
export function decodeStatusDetails(bin: Uint8Array): DecodedStatus {
  const st = StatusType.toObject(StatusType.decode(bin), { defaults: true }) as {
    code: number;
    message: string;
    details: { type_url?: string; typeUrl?: string; value: Uint8Array }[];
  };
  return {
    code: st.code,
    message: st.message,
    details: st.details.map((any) => {
      const typeUrl = any.type_url ?? any.typeUrl ?? "";
      if (typeUrl !== "type.googleapis.com/google.rpc.ErrorInfo") return { typeUrl };
      const info = ErrorInfoType.toObject(ErrorInfoType.decode(any.value), { defaults: true }) as { reason: string; domain: string; metadata: Record<string, string> };
      return { typeUrl, reason: info.reason, domain: info.domain, metadata: info.metadata };
    }),
  };
}
