import { basename, dirname, extname, join } from "node:path";

/**
 * Names of the daily log files (behavior.md 20.1): `log.path` `…/agent.log` is written as
 * `…/agent.2026-05-16.log`, the UTC date between the stem and the extension. The logger and the
 * `logs.fetch` responder both find files through this one place.
 */
export interface LogFileNaming {
  dir: string;
  stem: string;
  /** With its dot (".log"), or "" when `log.path` has none. */
  ext: string;
}

const DAY_MS = 86_400_000;

export function logFileNaming(logPath: string): LogFileNaming {
  const ext = extname(logPath);
  const name = basename(logPath);
  return { dir: dirname(logPath), stem: name.slice(0, name.length - ext.length), ext };
}

/** `YYYY-MM-DD` of an epoch-ms instant, in UTC. */
export function utcDate(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 10);
}

/** The full path of the file for one UTC date. */
export function datedLogPath(naming: LogFileNaming, date: string): string {
  return join(naming.dir, `${naming.stem}.${date}${naming.ext}`);
}

/** The date in a dated log file's name, or null when the name is not one of ours. */
export function datedLogDate(naming: LogFileNaming, fileName: string): string | null {
  const { stem, ext } = naming;
  if (!fileName.startsWith(`${stem}.`) || !fileName.endsWith(ext)) return null;
  const middle = fileName.slice(stem.length + 1, fileName.length - ext.length);
  return /^\d{4}-\d{2}-\d{2}$/.test(middle) ? middle : null;
}

/**
 * The oldest date kept: `keep_days` files in all, today's included (as tracing-appender's
 * `max_log_files` keeps N files), so `keep_days = 1` keeps only today's.
 */
export function oldestKeptDate(nowMs: number, keepDays: number): string {
  return utcDate(nowMs - (Math.max(1, keepDays) - 1) * DAY_MS);
}
