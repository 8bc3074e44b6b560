import { readdirSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { datedLogDate, type LogFileNaming, oldestKeptDate } from "./logFileNames.js";

export interface PruneOutcome {
  deleted: string[];
  /** Files that could not be deleted, or the folder when it could not be listed. */
  failures: { file: string; reason: string }[];
}

/**
 * Deletes the dated log files older than `keepDays` days (behavior.md 20.1). Only names of the
 * form `<stem>.YYYY-MM-DD<ext>` are touched; `log.path` itself and foreign files stay.
 */
export function pruneOldLogs(naming: LogFileNaming, nowMs: number, keepDays: number): PruneOutcome {
  const outcome: PruneOutcome = { deleted: [], failures: [] };
  const oldest = oldestKeptDate(nowMs, keepDays);
  let names: string[];
  try {
    names = readdirSync(naming.dir);
  } catch (err) {
    outcome.failures.push({ file: naming.dir, reason: errorText(err) });
    return outcome;
  }
  for (const name of names) {
    const date = datedLogDate(naming, name);
    if (date === null || date >= oldest) continue;
    const file = join(naming.dir, name);
    try {
      unlinkSync(file);
      outcome.deleted.push(file);
    } catch (err) {
      outcome.failures.push({ file, reason: errorText(err) });
    }
  }
  return outcome;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
