// EventStarted (wire.md §4.6): all members required.
import { z } from "zod";
import type { Decoded } from "./decoded.js";
import { decodeWith, str, timestamp } from "./schema.js";
import { formatTimestamp } from "./timestamp.js";
import type { EventStarted } from "./types.js";

const wireEventStarted = z.object({
  result_id: str,
  request_id: str,
  exec_id: str,
  pc_id: str,
  started_at: timestamp,
  manifest_id: str,
  version: str,
});

export function decodeEventStarted(value: unknown): Decoded<EventStarted> {
  const decoded = decodeWith(wireEventStarted, value);
  if (!decoded.ok) return decoded;
  const w = decoded.value;
  return {
    ok: true,
    value: {
      resultId: w.result_id,
      requestId: w.request_id,
      execId: w.exec_id,
      pcId: w.pc_id,
      startedAt: w.started_at,
      manifestId: w.manifest_id,
      version: w.version,
    },
  };
}

export function encodeEventStarted(e: EventStarted): Record<string, unknown> {
  return {
    result_id: e.resultId,
    request_id: e.requestId,
    exec_id: e.execId,
    pc_id: e.pcId,
    started_at: formatTimestamp(e.startedAt),
    manifest_id: e.manifestId,
    version: e.version,
  };
}
