// Small HTTP helpers for gateway tests.
export interface JsonReply<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export async function call<T = any>(base: string, method: string, path: string, body?: unknown): Promise<JsonReply<T>> {
  const res = await fetch(`${base}${path}`, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: parsed as T, headers: res.headers };
}

/** Reads a streamed response event by event (NDJSON lines or SSE data fields). */
export class EventReader {
  private buffer = "";
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();
  /** A read outlives a timed-out wait, so no chunk is lost. */
  private pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined;

  constructor(
    res: Response,
    private readonly sse = false,
  ) {
    this.reader = res.body!.getReader();
  }

  /** The next event; fails after timeoutMs (generous: a deadline, not a timing). */
  async next(timeoutMs = 10_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const sep = this.sse ? "\n\n" : "\n";
      const at = this.buffer.indexOf(sep);
      if (at >= 0) {
        const chunk = this.buffer.slice(0, at);
        this.buffer = this.buffer.slice(at + sep.length);
        if (!this.sse) return JSON.parse(chunk);
        const data = chunk.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
        if (data) return JSON.parse(data);
        continue; // a comment (heartbeat)
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("timed out waiting for a stream event");
      let timer: NodeJS.Timeout | undefined;
      const read = (this.pending ??= this.reader.read());
      const r = await Promise.race([
        read,
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("timed out waiting for a stream event")), left))),
      ]).finally(() => clearTimeout(timer));
      this.pending = undefined;
      if (r.done) throw new Error("stream ended");
      this.buffer += this.decoder.decode(r.value, { stream: true });
    }
  }

  cancel(): Promise<void> {
    return this.reader.cancel();
  }
}

export const b64 = (s: string): string => Buffer.from(s).toString("base64");
export const unb64 = (s: string): string => Buffer.from(s, "base64").toString();
