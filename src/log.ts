// Structured JSON logs on stdout (pino). The "listening" line is also how
// tests and scripts learn the bound addresses of a node started on port 0.
import { pino, type Logger } from "pino";

export type { Logger };

export function createLogger(level: string): Logger {
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}
