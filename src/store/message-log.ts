// Writers for the two logs that hold messages: msg/ (ready at once, in
// order) and delay/ (waiting for a delay). A message record is
//   type Message | Delayed, retry, a = seq, id, b = createdAtMs, c = deliverAtMs,
//   extensions: expiresAtMs, idempotency key; then route key and body
// (see record.ts). Each log numbers its records with its own seq.
import type { NewMessage } from "../broker/storage.js";
import {
  RecordType,
  recordB,
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

/** Whether the record at buf[o] of the delay log is a delayed message. */
export function isDelayed(buf: Buffer, o: number): boolean {
  return recordType(buf, o) === RecordType.Delayed;
}

/** Whether the record at buf[o] of the message log is a message (not padding). */
export function isMessage(buf: Buffer, o: number): boolean {
  return recordType(buf, o) === RecordType.Message;
}
