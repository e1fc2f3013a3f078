// proto3 JSON <-> the message objects our handlers take and return (the
// ts-proto shape: lowerCamel properties, uint64/int64 as bigint, bytes as
// Buffer, enums as numbers, unset messages and `optional` fields undefined).
// Driven by the schema read from the proto, so it serves any message. Every
// input error is an INVALID_ARGUMENT naming the field and what was expected.
import { malformed, type BrokerError } from "../broker/index.js";
import type { FieldSchema, MessageSchema, ScalarType } from "./proto-schema.js";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Obj = Record<string, unknown>;

/**
 * A bad value as quoted in an error: strings cut to 40 characters, arrays
 * and objects named, never serialized (a client's 10,000-deep array must
 * neither overflow the stack nor come back in the message).
 */
function shown(got: unknown): string {
  if (typeof got === "string") return JSON.stringify(got.length > 40 ? `${got.slice(0, 40)}…` : got);
  if (Array.isArray(got)) return `an array of ${got.length}`;
  if (got === null) return "null";
  if (typeof got === "object") return "an object";
  return String(got);
}

function bad(path: string, expected: string, got: unknown): BrokerError {
  return malformed(`field ${path}: expected ${expected}, got ${shown(got)}`);
}

const int32Range: Partial<Record<ScalarType, [number, number]>> = {
  TYPE_INT32: [-2147483648, 2147483647],
  TYPE_SINT32: [-2147483648, 2147483647],
  TYPE_SFIXED32: [-2147483648, 2147483647],
  TYPE_UINT32: [0, 4294967295],
  TYPE_FIXED32: [0, 4294967295],
};
const unsigned64 = new Set<ScalarType>(["TYPE_UINT64", "TYPE_FIXED64"]);
const signed64 = new Set<ScalarType>(["TYPE_INT64", "TYPE_SINT64", "TYPE_SFIXED64"]);
const base64Re = /^[A-Za-z0-9+/\-_]*={0,2}$/;
const intStringRe = /^-?\d+$/;

/** Every empty bytes field's value: no bytes can be written to it, and Buffer.alloc(0) costs ~0.2 µs. */
const NO_BYTES = Buffer.alloc(0);

/** The zero value of a non-repeated field in ts-proto objects. */
function zeroOf(f: FieldSchema): unknown {
  if (f.repeated) return [];
  if (f.optional || f.kind === "message") return undefined;
  if (f.kind === "enum") return 0;
  switch (f.scalar) {
    case "TYPE_STRING":
      return "";
    case "TYPE_BOOL":
      return false;
    case "TYPE_BYTES":
      return NO_BYTES;
    default:
      return unsigned64.has(f.scalar!) || signed64.has(f.scalar!) ? 0n : 0;
  }
}

/** Per message type: an object with every field at its zero value, and its repeated fields (which each copy needs afresh). */
const zeroes = new WeakMap<MessageSchema, { zero: Obj; repeated: string[] }>();

/** A message object with every field at its zero value. */
export function emptyMessage(schema: MessageSchema): Obj {
  let z = zeroes.get(schema);
  if (z === undefined) {
    const zero: Obj = {};
    for (const f of schema.fields) zero[f.localName] = zeroOf(f);
    z = { zero, repeated: schema.fields.filter((f) => f.repeated).map((f) => f.localName) };
    zeroes.set(schema, z);
  }
  // A spread of a plain object is one copy of its shape, cheaper than adding the fields one by one.
  const out: Obj = { ...z.zero };
  for (const name of z.repeated) out[name] = [];
  return out;
}

function scalarFromJson(f: FieldSchema, v: Json, path: string): unknown {
  const t = f.scalar!;
  switch (t) {
    case "TYPE_STRING":
      if (typeof v !== "string") throw bad(path, "a string", v);
      return v;
    case "TYPE_BOOL":
      if (typeof v !== "boolean") throw bad(path, "true or false", v);
      return v;
    case "TYPE_BYTES":
      if (typeof v !== "string" || !base64Re.test(v)) throw bad(path, "base64-encoded bytes", v);
      return Buffer.from(v, "base64");
    case "TYPE_DOUBLE":
    case "TYPE_FLOAT": {
      if (typeof v === "number") return v;
      if (v === "NaN") return NaN;
      if (v === "Infinity") return Infinity;
      if (v === "-Infinity") return -Infinity;
      const n = typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
      if (!Number.isFinite(n)) throw bad(path, "a number", v);
      return n;
    }
  }
  const range = int32Range[t];
  if (range) {
    const n = typeof v === "number" ? v : typeof v === "string" && intStringRe.test(v) ? Number(v) : NaN;
    if (!Number.isInteger(n) || n < range[0] || n > range[1]) {
      throw bad(path, `an integer in ${range[0]}..${range[1]}`, v);
    }
    return n;
  }
  // 64-bit: decimal strings (the canonical form) or safe-integer numbers.
  let b: bigint;
  if (typeof v === "string" && intStringRe.test(v)) b = BigInt(v);
  else if (typeof v === "number" && Number.isSafeInteger(v)) b = BigInt(v);
  else throw bad(path, `a ${unsigned64.has(t) ? "non-negative " : ""}64-bit integer as a decimal string`, v);
  const ok = unsigned64.has(t) ? b >= 0n && b < 1n << 64n : b >= -(1n << 63n) && b < 1n << 63n;
  if (!ok) throw bad(path, `a ${unsigned64.has(t) ? "uint64" : "int64"} in range`, v);
  return b;
}

function valueFromJson(f: FieldSchema, v: Json, path: string): unknown {
  if (f.kind === "message") {
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw bad(path, `an object (${f.typeName})`, v);
    return messageFromJson(f.message!(), v, path);
  }
  if (f.kind === "enum") {
    const e = f.enumType!;
    if (typeof v === "string" && e.byName.has(v)) return e.byName.get(v);
    if (typeof v === "number" && Number.isInteger(v)) return v; // proto3 keeps unknown enum numbers
    throw bad(path, `one of ${[...e.byName.keys()].join(", ")} or its number`, v);
  }
  return scalarFromJson(f, v, path);
}

/** Parses a proto3 JSON object (either field-name style) into a message object. */
export function messageFromJson(schema: MessageSchema, json: unknown, path = ""): Obj {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw malformed(`${path || "request body"}: expected a JSON object (${schema.fullName})`);
  }
  const out = emptyMessage(schema);
  for (const [key, v] of Object.entries(json as Record<string, Json>)) {
    const f = schema.byKey.get(key);
    const fieldPath = path ? `${path}.${key}` : key;
    if (!f) throw malformed(`unknown field ${fieldPath.length > 200 ? `${fieldPath.slice(0, 200)}…` : fieldPath} in ${schema.fullName}`);
    if (v === null) continue; // proto3 JSON: null means the default
    if (f.repeated) {
      if (!Array.isArray(v)) throw bad(fieldPath, "an array", v);
      out[f.localName] = v.map((item, i) => valueFromJson(f, item, `${fieldPath}[${i}]`));
    } else {
      out[f.localName] = valueFromJson(f, v, fieldPath);
    }
  }
  return out;
}

function valueToJson(f: FieldSchema, v: unknown): Json {
  if (f.kind === "message") return messageToJson(f.message!(), v as Obj);
  if (f.kind === "enum") return f.enumType!.byNumber.get(v as number) ?? (v as number);
  if (typeof v === "bigint") return v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64");
  if (typeof v === "number" && !Number.isFinite(v)) return String(v);
  return v as Json;
}

/**
 * A message object as proto3 JSON with lowerCamel names. Fields at their
 * zero value are emitted too (clients need not know proto3 defaults); unset
 * messages and unset `optional` fields are left out.
 */
export function messageToJson(schema: MessageSchema, message: object): Record<string, Json> {
  const msg = message as Obj;
  const out: Record<string, Json> = {};
  for (const f of schema.fields) {
    const v = msg[f.localName];
    if (v === undefined || v === null) {
      if (f.repeated) out[f.jsonName] = [];
      else if (!f.optional && f.kind !== "message") out[f.jsonName] = valueToJson(f, zeroOf(f));
      continue;
    }
    out[f.jsonName] = f.repeated ? (v as unknown[]).map((item) => valueToJson(f, item)) : valueToJson(f, v);
  }
  return out;
}

/** Finds a (possibly nested, dot-separated) field path; names in either style. */
export function fieldPath(schema: MessageSchema, dotted: string): FieldSchema[] | undefined {
  if (!dotted.includes(".")) {
    const f = schema.byKey.get(dotted);
    return f && [f];
  }
  const chain: FieldSchema[] = [];
  let current: MessageSchema | undefined = schema;
  for (const part of dotted.split(".")) {
    const f: FieldSchema | undefined = current?.byKey.get(part);
    if (!f) return undefined;
    chain.push(f);
    current = f.kind === "message" && !f.repeated ? f.message!() : undefined;
  }
  return chain;
}

/** A text value (path variable or query parameter) as the JSON value its field expects. */
function textToJson(f: FieldSchema, text: string, path: string): Json {
  if (f.kind === "enum") return intStringRe.test(text) ? Number(text) : text;
  if (f.kind === "message") throw bad(path, "a scalar field (messages cannot be set from text)", text);
  if (f.scalar === "TYPE_BOOL") {
    if (text === "true" || text === "1") return true;
    if (text === "false" || text === "0") return false;
    throw bad(path, "true or false", text);
  }
  return text; // numbers in strings are valid proto3 JSON for every numeric type
}

/**
 * Sets a field given by a dotted path on a JSON object from text, as path
 * variables and query parameters do. Repeated fields collect every value.
 */
export function setFromText(schema: MessageSchema, target: Record<string, Json>, dotted: string, values: string[]): void {
  const chain = fieldPath(schema, dotted);
  if (!chain) throw malformed(`unknown field ${dotted} in ${schema.fullName}`);
  let obj = target;
  for (let i = 0; i < chain.length - 1; i++) {
    const f = chain[i]!;
    const next = obj[f.jsonName];
    if (typeof next === "object" && next !== null && !Array.isArray(next)) obj = next;
    else obj = obj[f.jsonName] = {};
  }
  const leaf = chain[chain.length - 1]!;
  if (leaf.repeated) {
    const list = Array.isArray(obj[leaf.jsonName]) ? (obj[leaf.jsonName] as Json[]) : [];
    for (const v of values) list.push(textToJson(leaf, v, dotted));
    obj[leaf.jsonName] = list;
  } else {
    if (values.length > 1) throw malformed(`field ${dotted} is not repeated but was given ${values.length} times`);
    obj[leaf.jsonName] = textToJson(leaf, values[0] ?? "", dotted);
  }
  // A key given in the other naming style would be a duplicate: keep one.
  if (leaf.name !== leaf.jsonName) delete obj[leaf.name];
}
