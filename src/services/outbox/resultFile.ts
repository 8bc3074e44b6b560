// What a result file holds besides the payload: enough of the raw output to re-truncate exactly at
// publish time, when `max_payload` and the `result_output` store are known (behavior.md 8.1, 8.5).
//
// Private member `_stdout_parts` / `_stderr_parts` (absent when the inline text is all there is):
//   { "keep": <n> }                       the inline text is the raw bytes; its last n are notes
//   { "head": <base64>, "tail": <base64>, "dropped": <n>, "keep": <n> }
//                                         the raw bytes, when capture dropped bytes or the output
//                                         is not valid UTF-8 (the inline text then differs)

import type { CapturedStream, StreamName } from "../exec/capture.js";
import { encodeExecResult } from "../wire/execResult.js";
import { parseJson } from "../wire/json.js";
import type { ExecResult } from "../wire/types.js";
import {
  renderWhole,
  type StreamSource,
  type StreamSources,
  sourceFromCapture,
  sourceFromText,
} from "./fit.js";

const PARTS_MEMBER: Record<StreamName, string> = {
  stdout: "_stdout_parts",
  stderr: "_stderr_parts",
};

/** What a run produced, as the exec layer hands it over. Notes belong to stderr (wire §4.4). */
export interface CapturedOutput {
  stdout: CapturedStream;
  stderr: CapturedStream;
  notes?: readonly string[];
}

export interface OutboxFileContent {
  payload: Record<string, unknown>;
  privateMembers: Record<string, unknown>;
}

/**
 * The content of a result file for `OutboxStore.write`. With `output`, the result's `stdout` and
 * `stderr` are rendered from the captured bytes (and the notes), so the file can be truncated
 * correctly later; without it (synthetic results) the texts are taken as they are.
 */
export function resultFileContent(result: ExecResult, output?: CapturedOutput): OutboxFileContent {
  if (!output) return { payload: encodeExecResult(result), privateMembers: {} };
  const sources: StreamSources = {
    stdout: sourceFromCapture(output.stdout),
    stderr: sourceFromCapture(output.stderr, output.notes ?? []),
  };
  const texts = {
    stdout: renderWhole(sources.stdout, "stdout"),
    stderr: renderWhole(sources.stderr, "stderr"),
  };
  const privateMembers: Record<string, unknown> = {};
  for (const stream of ["stdout", "stderr"] as const) {
    const parts = partsFor(sources[stream], texts[stream]);
    if (parts) privateMembers[PARTS_MEMBER[stream]] = parts;
  }
  return {
    payload: encodeExecResult({ ...result, stdout: texts.stdout, stderr: texts.stderr }),
    privateMembers,
  };
}

function partsFor(src: StreamSource, text: string): Record<string, unknown> | undefined {
  const exact =
    src.dropped === 0 && Buffer.from(text, "utf8").equals(Buffer.concat([src.head, src.tail]));
  if (exact) return src.keep > 0 ? { keep: src.keep } : undefined;
  return {
    head: src.head.toString("base64"),
    tail: src.tail.toString("base64"),
    dropped: src.dropped,
    keep: src.keep,
  };
}

/**
 * The raw streams of a result read back from a file. Unusable parts (hand-edited, or from an
 * older writer) fall back to the inline text, which is always a valid rendering.
 */
export function sourcesFromFile(
  result: ExecResult,
  privateMembers: Readonly<Record<string, unknown>>,
): StreamSources {
  return {
    stdout: sourceFor(result.stdout, privateMembers[PARTS_MEMBER.stdout]),
    stderr: sourceFor(result.stderr, privateMembers[PARTS_MEMBER.stderr]),
  };
}

function sourceFor(text: string, parts: unknown): StreamSource {
  if (typeof parts !== "object" || parts === null || Array.isArray(parts)) {
    return sourceFromText(text);
  }
  const p = parts as Record<string, unknown>;
  const keep = isCount(p.keep) ? p.keep : 0;
  if (p.head === undefined && p.tail === undefined) return sourceFromText(text, keep);
  if (typeof p.head !== "string" || typeof p.tail !== "string" || !isCount(p.dropped)) {
    return sourceFromText(text);
  }
  const head = Buffer.from(p.head, "base64");
  const tail = Buffer.from(p.tail, "base64");
  const whole = p.dropped === 0 ? head.length + tail.length : tail.length;
  return { head, tail, dropped: p.dropped, keep: Math.min(keep, whole) };
}

const isCount = (v: unknown): v is number =>
  typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/** Splits a parsed file into its payload and its private members (names starting with `_`). */
export function splitPrivate(file: Readonly<Record<string, unknown>>): OutboxFileContent {
  const payload: Record<string, unknown> = {};
  const privateMembers: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(file)) {
    if (key.startsWith("_")) privateMembers[key] = value;
    else payload[key] = value;
  }
  return { payload, privateMembers };
}

/** A file's bytes as payload and private members, or why they are not an outbox file. */
export function parseOutboxFile(raw: Buffer): OutboxFileContent | string {
  const parsed = parseJson(raw);
  if (!parsed.ok) return parsed.error.message;
  const value = parsed.value;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return "not a JSON object";
  }
  return splitPrivate(value as Record<string, unknown>);
}
