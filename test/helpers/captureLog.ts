// A logger that keeps its lines in memory, parsed, for tests that assert what was logged.
import { pino } from "pino";
import type { Logger } from "../../src/services/logging/logger.js";

export interface CapturedLog {
  log: Logger;
  lines: Record<string, unknown>[];
  /** Lines at `level` (pino number: 40 warn, 30 info, 20 debug) whose msg matches. */
  at(level: number, msg?: RegExp): Record<string, unknown>[];
}

export function captureLog(): CapturedLog {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: "debug", base: undefined },
    { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) },
  );
  return {
    log,
    lines,
    at: (level, msg) =>
      lines.filter((l) => l.level === level && (msg === undefined || msg.test(String(l.msg)))),
  };
}
