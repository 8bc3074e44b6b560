import { randomUUID } from "node:crypto";
import type { RunOutcome } from "../exec/run.js";
import { type OutboxFileContent, resultFileContent } from "../outbox/resultFile.js";
import type { ExecResult } from "../wire/types.js";
import { deadlineNote } from "./gates.js";

/** Exit codes that mean "not run by policy or inability" (wire §4.3 `skipped`). */
const SKIPPED_CODES = new Set([122, 124, 125, 126, 127]);

export interface ResultFacts {
  pcId: string;
  requestId: string;
  execId: string | null;
  manifestId?: string;
  /** Minted at launch; a command that never launched gets a fresh one here. */
  resultId?: string;
  startedAt?: number;
  receivedAt: number;
  deadlineAt?: number;
  now: number;
}

/** The ExecResult file of a synthetic result (exit 120–127, or a kill before the spawn). */
export function syntheticResult(
  f: ResultFacts,
  exitCode: number,
  note: string | undefined,
): OutboxFileContent {
  // A deadline that passed while the command waited for a slot is worded here, at the decision.
  const text =
    note ??
    (f.deadlineAt !== undefined ? deadlineNote(f.deadlineAt, f.receivedAt, f.now) : "skipped");
  const startedAt = f.startedAt ?? f.now;
  return resultFileContent(
    baseResult(f, { exitCode, stdout: "", stderr: text, startedAt, finishedAt: f.now }),
  );
}

/** The ExecResult file of a run: output rendered from the captured bytes, notes at the end. */
export function runResult(f: ResultFacts, outcome: RunOutcome): OutboxFileContent {
  const result = baseResult(f, {
    exitCode: outcome.exitCode,
    stdout: "",
    stderr: "",
    startedAt: f.startedAt ?? f.now,
    finishedAt: outcome.finishedAt,
  });
  return resultFileContent(result, {
    stdout: outcome.stdout,
    stderr: outcome.stderr,
    notes: outcome.notes,
  });
}

function baseResult(
  f: ResultFacts,
  r: Pick<ExecResult, "exitCode" | "stdout" | "stderr" | "startedAt" | "finishedAt">,
): ExecResult {
  return {
    resultId: f.resultId ?? randomUUID(),
    requestId: f.requestId,
    ...(f.execId ? { execId: f.execId } : {}),
    pcId: f.pcId,
    ...r,
    ...(f.manifestId ? { manifestId: f.manifestId } : {}),
    ...(SKIPPED_CODES.has(r.exitCode) ? { skipped: true } : {}),
  };
}
