// LogsRequest (wire.md §4.10): `{"tail_lines": u32}`, defaulted to 500.
import { z } from "zod";
import type { Decoded } from "./decoded.js";
import { parseJson } from "./json.js";
import { decodeWith, defaulted, u32 } from "./schema.js";
import type { LogsRequest } from "./types.js";

export const DEFAULT_TAIL_LINES = 500;

const wireLogsRequest = z.object({ tail_lines: defaulted(u32, DEFAULT_TAIL_LINES) });

/** Strict decode of a parsed value, for tests and tools; the responder uses decodeLogsRequest. */
export function decodeLogsRequestValue(value: unknown): Decoded<LogsRequest> {
  const decoded = decodeWith(wireLogsRequest, value);
  return decoded.ok ? { ok: true, value: { tailLines: decoded.value.tail_lines } } : decoded;
}

/** A request body that is not a valid LogsRequest (empty, not JSON, wrong type) counts as `{}`. */
export function decodeLogsRequest(body: Uint8Array): LogsRequest {
  const parsed = parseJson(body);
  const decoded = parsed.ok ? decodeLogsRequestValue(parsed.value) : null;
  return decoded?.ok ? decoded.value : { tailLines: DEFAULT_TAIL_LINES };
}

export function encodeLogsRequest(r: LogsRequest): Record<string, unknown> {
  return { tail_lines: r.tailLines };
}
