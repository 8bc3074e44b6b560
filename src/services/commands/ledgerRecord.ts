// The on-disk shape of one dedup ledger record (behavior.md §6.2, §6.3). A local file format, not a
// wire shape: snake_case JSON, timestamps as epoch milliseconds like everywhere else in the agent.

import { createHash } from "node:crypto";
import { type Decoded, fail, ok } from "../wire/decoded.js";
import type { EpochMs } from "../wire/types.js";

export type LedgerState = "admitted" | "launching" | "running" | "finished";
export type LedgerSource = "live" | "replay" | "local";

export interface LedgerRecord {
  requestId: string;
  /** Lowercase hex SHA-256 of the body as received (local runs: of the command's JSON). */
  fingerprint: string;
  source: LedgerSource;
  subject: string;
  receivedAt: EpochMs;
  state: LedgerState;
  /** The encoded command, opaque to the ledger; dropped once finished. */
  command?: unknown;
  /** Why decoding rejected the command (it still gets an exit-122 result); dropped once finished. */
  rejection?: string;
  resultId?: string;
  startedAt?: EpochMs;
  spawnAt?: EpochMs;
  finishedAt?: EpochMs;
  exitCode?: number;
  /**
   * `finished` only: the result file's text (payload and private members), kept here until the
   * result is published or written to the outbox — the ledger line is its durable copy.
   */
  result?: string;
}

const STATES: readonly LedgerState[] = ["admitted", "launching", "running", "finished"];
const SOURCES: readonly LedgerSource[] = ["live", "replay", "local"];
const SHA256_HEX = /^[0-9a-f]{64}$/;

export const sha256Hex = (data: string | Uint8Array): string =>
  createHash("sha256").update(data).digest("hex");

/** The fingerprint of §6.2: lowercase hex SHA-256 of the body bytes as received. */
export const fingerprintOf = sha256Hex;

/**
 * `<lowercase hex sha256 of request_id>.json`: the one-file-per-record layout of behavior.md 6.3,
 * read at start (and folded into the journal) when an older agent left it.
 */
export const recordFileName = (requestId: string): string => `${sha256Hex(requestId)}.json`;

export const isFingerprint = (value: string): boolean => SHA256_HEX.test(value);

/** Whether a directory entry has the shape of a record file name (anything else is foreign). */
export const isRecordFileName = (name: string): boolean =>
  name.length === 69 && name.endsWith(".json") && SHA256_HEX.test(name.slice(0, 64));

export function encodeRecord(r: LedgerRecord): string {
  const finished = r.state === "finished";
  const out: Record<string, unknown> = {
    request_id: r.requestId,
    fingerprint: r.fingerprint,
    source: r.source,
    subject: r.subject,
    received_at: r.receivedAt,
    state: r.state,
  };
  if (!finished && r.command !== undefined) out.command = r.command;
  if (!finished && r.rejection !== undefined) out.rejection = r.rejection;
  if (r.resultId !== undefined) out.result_id = r.resultId;
  if (r.startedAt !== undefined) out.started_at = r.startedAt;
  if (r.spawnAt !== undefined) out.spawn_at = r.spawnAt;
  if (r.finishedAt !== undefined) out.finished_at = r.finishedAt;
  if (r.exitCode !== undefined) out.exit_code = r.exitCode;
  if (finished && r.result !== undefined) out.result = r.result;
  return JSON.stringify(out);
}

/**
 * Parses and validates a record. `expectedRequestId` is the key it was stored under (the
 * journal's key, or the request_id a legacy file name maps to), so two entries can never claim
 * the same request_id. Unknown members are ignored.
 */
export function decodeRecord(text: string, expectedRequestId?: string): Decoded<LedgerRecord> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return fail("", `not JSON (${(err as Error).message})`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return fail("", "not a JSON object");
  }
  const o = raw as Record<string, unknown>;

  const requestId = o.request_id;
  if (typeof requestId !== "string" || requestId === "") {
    return fail("request_id", "expected a non-empty string");
  }
  if (expectedRequestId !== undefined && requestId !== expectedRequestId) {
    return fail("request_id", `does not match the key it is stored under`);
  }
  const fingerprint = o.fingerprint;
  if (typeof fingerprint !== "string" || !SHA256_HEX.test(fingerprint)) {
    return fail("fingerprint", "expected 64 lowercase hex digits");
  }
  const source = o.source;
  if (!SOURCES.includes(source as LedgerSource)) {
    return fail("source", `expected one of ${SOURCES.join(", ")}`);
  }
  const subject = o.subject;
  if (typeof subject !== "string") return fail("subject", "expected a string");
  const state = o.state;
  if (!STATES.includes(state as LedgerState)) {
    return fail("state", `expected one of ${STATES.join(", ")}`);
  }
  const receivedAt = o.received_at;
  if (!isEpochMs(receivedAt)) return fail("received_at", "expected epoch milliseconds");

  const record: LedgerRecord = {
    requestId,
    fingerprint,
    source: source as LedgerSource,
    subject,
    receivedAt,
    state: state as LedgerState,
  };

  for (const [field, key] of [
    ["started_at", "startedAt"],
    ["spawn_at", "spawnAt"],
    ["finished_at", "finishedAt"],
  ] as const) {
    const v = o[field];
    if (v === undefined) continue;
    if (!isEpochMs(v)) return fail(field, "expected epoch milliseconds");
    record[key] = v;
  }
  if (o.result_id !== undefined) {
    if (typeof o.result_id !== "string" || o.result_id === "") {
      return fail("result_id", "expected a non-empty string");
    }
    record.resultId = o.result_id;
  }
  if (o.exit_code !== undefined) {
    if (!Number.isSafeInteger(o.exit_code)) return fail("exit_code", "expected an integer");
    record.exitCode = o.exit_code as number;
  }
  if (o.result !== undefined) {
    if (typeof o.result !== "string") return fail("result", "expected a string");
    if (record.state !== "finished") return fail("result", `not allowed in state ${state}`);
    record.result = o.result;
  }
  if (record.state !== "finished") {
    if (o.command !== undefined) record.command = o.command;
    if (o.rejection !== undefined) {
      if (typeof o.rejection !== "string") return fail("rejection", "expected a string");
      record.rejection = o.rejection;
    }
  }

  // Crash recovery (§6.6) needs these to resume or settle a launched command.
  if (record.state === "launching" || record.state === "running") {
    if (record.resultId === undefined) return fail("result_id", `required in state ${state}`);
    if (record.startedAt === undefined) return fail("started_at", `required in state ${state}`);
    if (record.spawnAt === undefined) return fail("spawn_at", `required in state ${state}`);
  }
  return ok(record);
}

const isEpochMs = (v: unknown): v is EpochMs => Number.isSafeInteger(v) && (v as number) >= 0;
