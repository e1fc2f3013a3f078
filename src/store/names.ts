// File names for topics, bind keys and metadata names: readable, safe on any
// file system, and distinct on case-insensitive ones (macOS, Windows), where
// "aaa" and "aaG" must not share a directory.
//
//   "n." + escaped name    a-z 0-9 '_' '-' '.' as they are, an uppercase
//                          letter as "^" + its lowercase, any other UTF-8
//                          byte as "%" + two lowercase hex digits
//   "h" + sha-256 hex      when the escaped form would exceed 200 characters
//                          (the clear name lives in queue.json / <file>.name)
//
// A final ".tmp", ".name" or ".bad" has its dot escaped, so no encoded name
// looks like the store's own temporary or side files.
//
// Data dirs written before this encoding used "k" + base64url (case
// sensitive); decodeName still reads those so FileStorage can rename them.
import { createHash } from "node:crypto";

const MAX_ENCODED_CHARS = 200;
const NEW_PREFIX = "n.";
const RESERVED_SUFFIX = /\.(tmp|name|bad)$/;

function escapeName(name: string): string {
  let out = "";
  for (const byte of Buffer.from(name, "utf8")) {
    if ((byte >= 0x61 && byte <= 0x7a) || (byte >= 0x30 && byte <= 0x39) || byte === 0x5f || byte === 0x2d || byte === 0x2e) {
      out += String.fromCharCode(byte);
    } else if (byte >= 0x41 && byte <= 0x5a) {
      out += `^${String.fromCharCode(byte + 0x20)}`;
    } else {
      out += `%${byte.toString(16).padStart(2, "0")}`;
    }
  }
  const m = RESERVED_SUFFIX.exec(out);
  return m === null ? out : `${out.slice(0, m.index)}%2e${out.slice(m.index + 1)}`;
}

function unescapeName(s: string): string | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x5e) {
      const l = s.charCodeAt(++i);
      if (!(l >= 0x61 && l <= 0x7a)) return undefined;
      bytes.push(l - 0x20);
    } else if (c === 0x25) {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9a-f]{2}$/.test(hex)) return undefined;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(c);
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

export function hashedName(name: string): string {
  return `h${createHash("sha256").update(name).digest("hex")}`;
}

/** The file name of a topic, bind key or metadata name. */
export function encodeName(name: string): string {
  const e = NEW_PREFIX + escapeName(name);
  return e.length <= MAX_ENCODED_CHARS ? e : hashedName(name);
}

/** The encoding of data dirs written before the case-safe one ("k" + base64url). */
export function legacyEncodeName(name: string): string {
  const b = Buffer.from(name, "utf8").toString("base64url");
  return b.length <= MAX_ENCODED_CHARS ? `k${b}` : hashedName(name);
}

/**
 * The name a file name stands for, read from the file name alone (current or
 * legacy encoding); undefined for a hashed name or one that no name encodes to.
 */
export function decodeName(file: string): string | undefined {
  if (file.startsWith(NEW_PREFIX)) {
    const name = unescapeName(file.slice(NEW_PREFIX.length));
    return name !== undefined && encodeName(name) === file ? name : undefined;
  }
  if (file.startsWith("k")) {
    const name = Buffer.from(file.slice(1), "base64url").toString("utf8");
    return legacyEncodeName(name) === file ? name : undefined;
  }
  return undefined;
}

/** Whether `file` is the file name of `name` in either encoding (hashed ones included). */
export function namesFile(name: string, file: string): boolean {
  return encodeName(name) === file || legacyEncodeName(name) === file;
}
