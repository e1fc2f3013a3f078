// Writers for the two logs that hold messages: msg/ (ready at once, in
// order) and delay/ (waiting for a delay). A message record is
//   type Message | Delayed, retry, a = seq, id, b = createdAtMs, c = deliverAtMs,
//   extensions: expiresAtMs, idempotency key; then route key and body
// (see record.ts). Each log numbers its records with its own seq.
import { type NewMessage, StoreError } from "../broker/storage.js";
import {
  MAX_KEY_BYTES,
  MAX_ROUTE_KEY_BYTES,
  RecordType,
  recordB,
  recordHasKey,
  recordKey,
  recordBodyView,
  recordC,
  recordExpiresAt,
  recordId,
  recordKeyBytes,
  recordRetry,
  recordRouteKey,
  recordRouteKeyBytes,
  recordType,
} from "./record.js";
import type { SegmentLog } from "./segment-log.js";

/**
 * Appends m to the message log (Message) or the delay log (Delayed) with the
 * log's next seq; returns its position. routeKeyBytes: utf8 length of
 * m.routeKey; key: the idempotency key's bytes or null. Space must have been
 * ensured (planEnsure) or the call may throw StoreError.
 */
export function writeMessage(log: SegmentLog, type: typeof RecordType.Message | typeof RecordType.Delayed, m: NewMessage, routeKeyBytes: number, key: Buffer | null): number {
  const seq = log.nextSeq;
  // The seq is taken after the write, so a segment rolled by it starts at this seq.
  const pos = log.write(type, m.retry, seq, m.id, m.createdAtMs, m.deliverAtMs, m.routeKey, routeKeyBytes, m.body, m.expiresAtMs ?? 0, key);
  log.nextSeq = seq + 1;
  return pos;
}

/**
 * Appends a copy of the delayed record at buf[o] to the message log, key
 * included (the delay segment may be reclaimed while the key's window
 * lasts). Space must have been ensured (positionFor). Returns its position.
 */
export function copyDelayed(msgs: SegmentLog, buf: Buffer, o: number): number {
  const seq = msgs.nextSeq;
  const p = msgs.write(
    RecordType.Message,
    recordRetry(buf, o),
    seq,
    recordId(buf, o),
    recordB(buf, o),
    recordC(buf, o),
    recordRouteKey(buf, o),
    recordRouteKeyBytes(buf, o),
    recordBodyView(buf, o),
    recordExpiresAt(buf, o),
    recordKeyBytes(buf, o),
  );
  msgs.nextSeq = seq + 1;
  return p;
}

/**
 * Appends a copy of the message or delayed record at buf[o] to the delay log,
 * due at dueAtMs (a reschedule), everything else kept. Space must have been
 * ensured (positionFor). Returns its position.
 */
export function copyAsDelayed(delays: SegmentLog, buf: Buffer, o: number, dueAtMs: number): number {
  const seq = delays.nextSeq;
  const p = delays.write(
    RecordType.Delayed,
    recordRetry(buf, o),
    seq,
    recordId(buf, o),
    recordB(buf, o),
    dueAtMs,
    recordRouteKey(buf, o),
    recordRouteKeyBytes(buf, o),
    recordBodyView(buf, o),
    recordExpiresAt(buf, o),
    recordKeyBytes(buf, o),
  );
  delays.nextSeq = seq + 1;
  return p;
}

/** Whether the record at buf[o] of the delay log is a delayed message. */
export function isDelayed(buf: Buffer, o: number): boolean {
  return recordType(buf, o) === RecordType.Delayed;
}

/** Whether the record at buf[o] of the message log is a message (not padding). */
export function isMessage(buf: Buffer, o: number): boolean {
  return recordType(buf, o) === RecordType.Message;
}

/** The TOO_LARGE error for a message over one of the limits (body, route key, idempotency key). */
export function tooLarge(bodyBytes: number, maxBodyBytes: number, routeKeyBytes: number, key: Buffer | null): StoreError {
  return new StoreError(
    "TOO_LARGE",
    bodyBytes > maxBodyBytes
      ? `message body of ${bodyBytes} bytes exceeds the limit of ${maxBodyBytes}`
      : routeKeyBytes > MAX_ROUTE_KEY_BYTES
        ? `route key of ${routeKeyBytes} bytes exceeds the limit of ${MAX_ROUTE_KEY_BYTES}`
        : `idempotency key of ${key?.length ?? 0} bytes exceeds the limit of ${MAX_KEY_BYTES}`,
  );
}

/**
 * Visits (id, key, createdAtMs) of the keyed message records of log created
 * at or after sinceMs, reading only the segments that can hold them (see
 * SegmentLog.scanSince).
 */
export function visitKeys(log: SegmentLog, sinceMs: number, visit: (id: bigint, key: string, createdAtMs: number) => void): void {
  log.scanSince(sinceMs, (buf, off) => {
    if (!recordHasKey(buf, off)) return;
    const type = recordType(buf, off);
    if (type !== RecordType.Message && type !== RecordType.Delayed) return;
    const createdAtMs = recordB(buf, off);
    if (createdAtMs >= sinceMs) visit(recordId(buf, off), recordKey(buf, off), createdAtMs);
  });
}
