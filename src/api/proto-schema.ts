// The proto as the gateway sees it: every RPC with its google.api.http rule
// and a schema of every message (field names, types, labels), read once at
// start through @grpc/proto-loader. Nothing here is a hand-kept list: adding
// an annotated RPC or a field to the proto changes what this returns.
import * as protoLoader from "@grpc/proto-loader";
import { BROKER_PROTO, PROTO_INCLUDE_DIRS } from "./proto-files.js";

export type ScalarType =
  | "TYPE_DOUBLE" | "TYPE_FLOAT" | "TYPE_INT64" | "TYPE_UINT64" | "TYPE_INT32" | "TYPE_FIXED64"
  | "TYPE_FIXED32" | "TYPE_BOOL" | "TYPE_STRING" | "TYPE_BYTES" | "TYPE_UINT32" | "TYPE_SFIXED32"
  | "TYPE_SFIXED64" | "TYPE_SINT32" | "TYPE_SINT64";

export interface EnumSchema {
  fullName: string;
  byName: Map<string, number>;
  byNumber: Map<number, string>;
}

export interface FieldSchema {
  /** As written in the proto (snake_case). */
  name: string;
  /** proto3 JSON name (lowerCamel). */
  jsonName: string;
  /** Property name in ts-proto objects (also lowerCamel). */
  localName: string;
  kind: "scalar" | "enum" | "message";
  /** For kind "scalar". */
  scalar?: ScalarType;
  repeated: boolean;
  /** proto3 `optional`: unset is distinct from the zero value. */
  optional: boolean;
  /** Comment-free type name for docs, e.g. "uint64" or "gmq.v1.TopicConfig". */
  typeName: string;
  /** Resolved lazily, since messages may refer to each other. */
  message?: () => MessageSchema;
  enumType?: EnumSchema;
}

export interface MessageSchema {
  fullName: string;
  fields: FieldSchema[];
  /** By proto name and by JSON name: both are accepted on input. */
  byKey: Map<string, FieldSchema>;
}

export interface HttpBinding {
  method: "GET" | "PUT" | "POST" | "DELETE" | "PATCH";
  path: string;
  /** "" (none), "*" (whole request) or a top-level field name. */
  body: string;
}

export interface RpcSchema {
  /** As in the proto: "Push". */
  name: string;
  service: string;
  requestType: MessageSchema;
  responseType: MessageSchema;
  requestStream: boolean;
  responseStream: boolean;
  /** The google.api.http rule and its additional_bindings, in order. */
  bindings: HttpBinding[];
}

export interface ProtoSchema {
  rpcs: RpcSchema[];
  message(fullName: string): MessageSchema;
}

export const camelCase = (name: string): string => name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

const scalarNames: Record<ScalarType, string> = {
  TYPE_DOUBLE: "double", TYPE_FLOAT: "float", TYPE_INT64: "int64", TYPE_UINT64: "uint64", TYPE_INT32: "int32",
  TYPE_FIXED64: "fixed64", TYPE_FIXED32: "fixed32", TYPE_BOOL: "bool", TYPE_STRING: "string", TYPE_BYTES: "bytes",
  TYPE_UINT32: "uint32", TYPE_SFIXED32: "sfixed32", TYPE_SFIXED64: "sfixed64", TYPE_SINT32: "sint32", TYPE_SINT64: "sint64",
};

interface RawField {
  name: string;
  label: string;
  type: string;
  typeName: string;
  jsonName: string;
}
interface RawMessage {
  field: RawField[];
  oneofDecl: { name: string }[];
}
interface RawEnum {
  value: { name: string; number: number }[];
}
interface RawMethod {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  originalName?: string;
  requestType: { type: RawMessage };
  responseType: { type: RawMessage };
  options?: Record<string, unknown>;
}

export function loadProtoSchema(file: string = BROKER_PROTO, includeDirs: string[] = PROTO_INCLUDE_DIRS): ProtoSchema {
  const def = protoLoader.loadSync(file, { keepCase: true, includeDirs }) as unknown as Record<string, unknown>;
  const messages = new Map<string, MessageSchema>();
  const enums = new Map<string, EnumSchema>();

  // proto-loader's descriptors carry type names relative to the referring
  // scope ("RouteMode"); resolve them the way protoc does, innermost first.
  const resolve = (scope: string, typeName: string): string => {
    if (typeName.startsWith(".")) return typeName.slice(1);
    const parts = scope.split(".");
    for (let i = parts.length; i >= 0; i--) {
      const candidate = [...parts.slice(0, i), typeName].join(".");
      if (def[candidate]) return candidate;
    }
    throw new Error(`proto type ${typeName} referred from ${scope} not found`);
  };

  const enumOf = (fullName: string): EnumSchema => {
    let e = enums.get(fullName);
    if (!e) {
      const raw = (def[fullName] as { type: RawEnum }).type;
      e = { fullName, byName: new Map(), byNumber: new Map() };
      for (const v of raw.value) {
        e.byName.set(v.name, v.number);
        if (!e.byNumber.has(v.number)) e.byNumber.set(v.number, v.name);
      }
      enums.set(fullName, e);
    }
    return e;
  };

  const messageOf = (fullName: string): MessageSchema => {
    const known = messages.get(fullName);
    if (known) return known;
    const entry = def[fullName] as { type: RawMessage } | undefined;
    if (!entry) throw new Error(`proto message ${fullName} not found`);
    const schema: MessageSchema = { fullName, fields: [], byKey: new Map() };
    messages.set(fullName, schema);
    const synthetic = new Set(entry.type.oneofDecl.map((o) => o.name));
    for (const f of entry.type.field) {
      const jsonName = f.jsonName || camelCase(f.name);
      const field: FieldSchema = {
        name: f.name,
        jsonName,
        localName: camelCase(f.name),
        kind: f.type === "TYPE_MESSAGE" ? "message" : f.type === "TYPE_ENUM" ? "enum" : "scalar",
        repeated: f.label === "LABEL_REPEATED",
        // proto-loader keeps proto3 `optional` only as its synthetic oneof "_name".
        optional: synthetic.has(`_${f.name}`),
        typeName: "",
      };
      if (field.kind === "scalar") {
        field.scalar = f.type as ScalarType;
        field.typeName = scalarNames[field.scalar] ?? f.type;
      } else {
        const target = resolve(fullName, f.typeName);
        field.typeName = target;
        if (field.kind === "enum") field.enumType = enumOf(target);
        else field.message = () => messageOf(target);
      }
      schema.fields.push(field);
      schema.byKey.set(field.name, field);
      schema.byKey.set(field.jsonName, field);
    }
    return schema;
  };

  const rpcs: RpcSchema[] = [];
  for (const [service, value] of Object.entries(def)) {
    if (!isServiceDefinition(value)) continue;
    for (const [key, m] of Object.entries(value as Record<string, RawMethod>)) {
      const name = m.path.slice(m.path.lastIndexOf("/") + 1);
      if (key !== m.originalName && key !== name) continue; // proto-loader lists each method under two keys
      const [reqName, resName] = [m.requestType, m.responseType].map((t) => findName(def, t, (n) => resolve(service, n)));
      rpcs.push({
        name,
        service,
        requestType: messageOf(reqName!),
        responseType: messageOf(resName!),
        requestStream: m.requestStream,
        responseStream: m.responseStream,
        bindings: bindingsOf(m.options?.["(google.api.http)"]),
      });
    }
  }
  return { rpcs, message: messageOf };
}

function isServiceDefinition(value: unknown): boolean {
  if (typeof value !== "object" || value === null || "format" in value) return false;
  const first = Object.values(value)[0] as { path?: unknown } | undefined;
  return typeof first?.path === "string";
}

/** The full name of a method's request or response type (proto-loader gives only the descriptor). */
function findName(def: Record<string, unknown>, t: { type: RawMessage & { name?: string } }, byScope: (n: string) => string): string {
  for (const [name, v] of Object.entries(def)) if (v === t || (v as { type?: unknown }).type === t.type) return name;
  return byScope(t.type.name ?? "");
}

const verbs = ["get", "put", "post", "delete", "patch"] as const;

function bindingsOf(rule: unknown): HttpBinding[] {
  if (typeof rule !== "object" || rule === null) return [];
  const r = rule as Record<string, unknown>;
  const out: HttpBinding[] = [];
  for (const verb of verbs) {
    if (typeof r[verb] === "string" && r[verb]) {
      out.push({ method: verb.toUpperCase() as HttpBinding["method"], path: r[verb] as string, body: String(r["body"] ?? "") });
    }
  }
  const custom = r["custom"] as { kind?: string; path?: string } | undefined;
  if (custom?.kind && custom.path) {
    out.push({ method: custom.kind.toUpperCase() as HttpBinding["method"], path: custom.path, body: String(r["body"] ?? "") });
  }
  const extra = r["additional_bindings"];
  if (Array.isArray(extra)) for (const b of extra) out.push(...bindingsOf(b));
  return out;
}
