// The deterministic result_id of an exit-123 result (wire §4.4): UUID v5 (RFC 4122 §4.3, SHA-1)
// in the OID namespace of `<request_id>|<pc_id>|signature-refused`. A refused command is not
// recorded in the ledger, so its live and replayed copies are refused twice: the same result_id
// makes both land in the same outbox file and lets JetStream's duplicate window absorb a re-send.
import { createHash } from "node:crypto";

export const OID_NAMESPACE = "6ba7b812-9dad-11d1-80b4-00c04fd430c8";

/** UUID v5 of `name` in `namespace` (lowercase, hyphenated). */
export function uuidV5(name: string, namespace: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ""), "hex");
  if (ns.length !== 16) throw new Error(`uuidV5: namespace ${namespace} is not a UUID`);
  const hash = createHash("sha1").update(ns).update(name, "utf8").digest();
  const b = hash.subarray(0, 16);
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x50;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const hex = b.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function refusalResultId(requestId: string, pcId: string): string {
  return uuidV5(`${requestId}|${pcId}|signature-refused`, OID_NAMESPACE);
}
