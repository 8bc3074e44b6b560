// ExecResult (wire.md §4.3).
import { z } from "zod";
import type { Decoded } from "./decoded.js";
import { bool, decodeWith, i32, omittedWhenEmpty, putIfPresent, str, timestamp } from "./schema.js";
import { formatTimestamp } from "./timestamp.js";
import type { ExecResult } from "./types.js";

const wireExecResult = z.object({
  // Pre-0.29 senders have no result_id; it decodes as "".
  result_id: str.nullish().transform((v) => v ?? ""),
  request_id: str,
  exec_id: omittedWhenEmpty(str),
  pc_id: str,
  exit_code: i32,
  stdout: str,
  stderr: str,
  started_at: timestamp,
  finished_at: timestamp,
  manifest_id: omittedWhenEmpty(str),
  stdout_object: omittedWhenEmpty(str),
  stderr_object: omittedWhenEmpty(str),
  skipped: omittedWhenEmpty(bool),
});

export function decodeExecResult(value: unknown): Decoded<ExecResult> {
  const decoded = decodeWith(wireExecResult, value);
  if (!decoded.ok) return decoded;
  const w = decoded.value;
  const result: ExecResult = {
    resultId: w.result_id,
    requestId: w.request_id,
    pcId: w.pc_id,
    exitCode: w.exit_code,
    stdout: w.stdout,
    stderr: w.stderr,
    startedAt: w.started_at,
    finishedAt: w.finished_at,
  };
  if (w.exec_id !== undefined) result.execId = w.exec_id;
  if (w.manifest_id !== undefined) result.manifestId = w.manifest_id;
  if (w.stdout_object !== undefined) result.stdoutObject = w.stdout_object;
  if (w.stderr_object !== undefined) result.stderrObject = w.stderr_object;
  if (w.skipped === true) result.skipped = true;
  return { ok: true, value: result };
}

/** Optional members are left out when empty, `skipped` when false (wire §4.3). */
export function encodeExecResult(r: ExecResult): Record<string, unknown> {
  const out: Record<string, unknown> = { result_id: r.resultId, request_id: r.requestId };
  putIfPresent(out, "exec_id", r.execId);
  Object.assign(out, {
    pc_id: r.pcId,
    exit_code: r.exitCode,
    stdout: r.stdout,
    stderr: r.stderr,
    started_at: formatTimestamp(r.startedAt),
    finished_at: formatTimestamp(r.finishedAt),
  });
  putIfPresent(out, "manifest_id", r.manifestId);
  putIfPresent(out, "stdout_object", r.stdoutObject);
  putIfPresent(out, "stderr_object", r.stderrObject);
  if (r.skipped === true) out.skipped = true;
  return out;
}
