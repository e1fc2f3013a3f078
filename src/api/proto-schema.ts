// The proto as the gateway sees it: every RPC with its google.api.http rule
// and a schema of every message (field names, types, labels), read through
// @grpc/proto-loader (by the build, or at start when run from src/). Nothing
// here is a hand-kept list: adding an annotated RPC or a field to the proto
// changes what this returns.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { CODE_DIR } from "../paths.js";
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
  /** Why typeName could not be resolved to a full name (readProtoDescriptors). */
  unresolved?: string;
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

/**
 * The proto as proto-loader reads it, reduced to plain JSON with every type
 * name resolved to its full name: all the schema is built from. scripts/build.mjs
 * writes the broker proto's as broker-proto.json beside the built module, so
 * a node built into dist/ reads that instead of loading proto-loader and
 * parsing the proto files at each start (about a third of a start's CPU).
 */
export interface ProtoDescriptors {
  messages: Record<string, { field: RawField[]; oneofDecl: string[] }>;
  enums: Record<string, RawEnum["value"]>;
  rpcs: { name: string; service: string; requestType: string; responseType: string; requestStream: boolean; responseStream: boolean; http?: unknown }[];
}

const MESSAGE_FORMAT = "Protocol Buffer 3 DescriptorProto";
const ENUM_FORMAT = "Protocol Buffer 3 EnumDescriptorProto";

export function readProtoDescriptors(file: string = BROKER_PROTO, includeDirs: string[] = PROTO_INCLUDE_DIRS): ProtoDescriptors {
  // Required here, not imported above: a node started from dist/ never needs it.
  const protoLoader = createRequire(import.meta.url)("@grpc/proto-loader") as typeof import("@grpc/proto-loader");
  const def = protoLoader.loadSync(file, { keepCase: true, includeDirs }) as unknown as Record<string, unknown>;

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

  const out: ProtoDescriptors = { messages: {}, enums: {}, rpcs: [] };
  for (const [fullName, value] of Object.entries(def)) {
    const format = (value as { format?: string }).format;
    if (format === ENUM_FORMAT) {
      out.enums[fullName] = (value as { type: RawEnum }).type.value.map((v) => ({ name: v.name, number: v.number }));
    } else if (format === MESSAGE_FORMAT) {
      const raw = (value as { type: RawMessage }).type;
      out.messages[fullName] = {
        field: raw.field.map((f) => {
          const field: RawField = { name: f.name, label: f.label, type: f.type, typeName: "", jsonName: f.jsonName };
          if (f.type !== "TYPE_MESSAGE" && f.type !== "TYPE_ENUM") return field;
          try {
            field.typeName = resolve(fullName, f.typeName);
          } catch (err) {
            // Fails when the message is used, as parsing at start would (descriptor.proto's nested types are not all listed).
            field.unresolved = (err as Error).message;
          }
          return field;
        }),
        oneofDecl: raw.oneofDecl.map((o) => o.name),
      };
    } else if (isServiceDefinition(value)) {
      for (const [key, m] of Object.entries(value as Record<string, RawMethod>)) {
        const name = m.path.slice(m.path.lastIndexOf("/") + 1);
        if (key !== m.originalName && key !== name) continue; // proto-loader lists each method under two keys
        const [requestType, responseType] = [m.requestType, m.responseType].map((t) => findName(def, t, (n) => resolve(fullName, n)));
        out.rpcs.push({ name, service: fullName, requestType: requestType!, responseType: responseType!, requestStream: m.requestStream, responseStream: m.responseStream, http: m.options?.["(google.api.http)"] });
      }
    }
  }
  return out;
}

/** Parses the proto files (proto-loader) and builds their schema. */
export function loadProtoSchema(file: string = BROKER_PROTO, includeDirs: string[] = PROTO_INCLUDE_DIRS): ProtoSchema {
  return schemaOf(readProtoDescriptors(file, includeDirs));
}

const BUILT_BROKER_PROTO = join(CODE_DIR, "api/broker-proto.json");

/** The broker proto's schema: from broker-proto.json when this module runs from dist/, else parsed from the proto files. */
export function brokerProtoSchema(): ProtoSchema {
  let text: string;
  try {
    text = readFileSync(BUILT_BROKER_PROTO, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    return loadProtoSchema(); // run from src/ (tsx): nothing was built
  }
  return schemaOf(JSON.parse(text) as ProtoDescriptors);
}

/** The schema of descriptors (cheap: no parsing, messages built when first asked for). */
export function schemaOf(d: ProtoDescriptors): ProtoSchema {
  const messages = new Map<string, MessageSchema>();
  const enums = new Map<string, EnumSchema>();

  const enumOf = (fullName: string): EnumSchema => {
    let e = enums.get(fullName);
    if (!e) {
      const values = d.enums[fullName];
      if (!values) throw new Error(`proto enum ${fullName} not found`);
      e = { fullName, byName: new Map(), byNumber: new Map() };
      for (const v of values) {
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
    const entry = d.messages[fullName];
    if (!entry) throw new Error(`proto message ${fullName} not found`);
    const schema: MessageSchema = { fullName, fields: [], byKey: new Map() };
    messages.set(fullName, schema);
    const synthetic = new Set(entry.oneofDecl);
    for (const f of entry.field) {
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
        if (f.unresolved !== undefined) throw new Error(f.unresolved);
        const target = f.typeName;
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

  const rpcs: RpcSchema[] = d.rpcs.map((r) => ({
    name: r.name,
    service: r.service,
    requestType: messageOf(r.requestType),
    responseType: messageOf(r.responseType),
    requestStream: r.requestStream,
    responseStream: r.responseStream,
    bindings: bindingsOf(r.http),
  }));
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
