import { pino } from "pino";
import { type Clock, systemClock } from "../time/clock.js";
import { DailyFileDestination, type DailyFileNotice } from "./dailyFileDestination.js";
import { datedLogPath, logFileNaming, utcDate } from "./logFileNames.js";
import { type Logger, type LogLevel, loggerOptions } from "./logger.js";

export interface AgentLoggerOptions {
  level: LogLevel | "fatal";
  /** `[log] path`, e.g. `/var/log/kanade/agent.log`; files are `agent.YYYY-MM-DD.log` beside it. */
  path: string;
  /** `[log] keep_days`; 0 = stdout only. */
  keepDays: number;
  clock?: Clock;
  /** Where stdout lines go; fd 1 by default (tests pass a capture). */
  stdout?: pino.DestinationStream;
}

export interface AgentLogger {
  log: Logger;
  /** Stops the daily check and closes the file; later lines go to stdout only. */
  close(): void;
  /** The file lines are written to now; null for stdout only (keep_days 0 or fallback). */
  currentFile(): string | null;
}

/** The date check also runs without log traffic, so old files go even on a quiet day. */
const MAINTAIN_EVERY_MS = 3_600_000;
const MAX_NAMED_FILES = 20;

/**
 * The daemon's logger (behavior.md §20): JSON lines to stdout and, with `keepDays > 0`, to a file
 * rotated daily by UTC date with files older than `keepDays` days deleted at start and daily. A
 * log folder that cannot be made or written never stops the agent: it logs to stdout and says why.
 */
export function createAgentLogger(opts: AgentLoggerOptions): AgentLogger {
  const clock = opts.clock ?? systemClock;
  const stdout = opts.stdout ?? pino.destination({ dest: 1, sync: true });
  const naming = logFileNaming(opts.path);
  let log: Logger | null = null;
  // A notice comes from inside a write: log it after that write, not in the middle of it.
  const notify = (notice: DailyFileNotice) =>
    queueMicrotask(() => {
      if (log) reportNotice(log, notice);
    });

  let file: DailyFileDestination | null = null;
  let fallbackReason: string | null = null;
  if (opts.keepDays > 0) {
    const candidate = new DailyFileDestination(naming, opts.keepDays, clock, notify);
    try {
      candidate.open();
      file = candidate;
    } catch (err) {
      fallbackReason = err instanceof Error ? err.message : String(err);
    }
  }

  const tee: pino.DestinationStream = {
    write(line: string) {
      stdout.write(line);
      file?.write(line);
    },
  };
  log = pino(loggerOptions(opts.level), tee);

  if (fallbackReason !== null) {
    log.error(
      { path: datedLogPath(naming, utcDate(clock.now())), reason: fallbackReason },
      "cannot write the log file; logging to stdout only",
    );
  }

  const timer = file ? setInterval(() => file?.maintain(), MAINTAIN_EVERY_MS) : undefined;
  timer?.unref();

  return {
    log,
    close() {
      if (timer) clearInterval(timer);
      file?.close();
      file = null;
    },
    currentFile: () => file?.currentFile ?? null,
  };
}

function reportNotice(log: Logger, notice: DailyFileNotice): void {
  if (notice.kind === "unwritable") {
    log.error(
      { path: notice.file, reason: notice.reason },
      "cannot write the log file; logging to stdout only until it can be written again",
    );
    return;
  }
  const { deleted, failures } = notice.outcome;
  if (deleted.length > 0) {
    log.info(
      { count: deleted.length, files: deleted.slice(0, MAX_NAMED_FILES) },
      "old log files deleted",
    );
  }
  for (const f of failures.slice(0, MAX_NAMED_FILES)) {
    log.warn({ path: f.file, reason: f.reason }, "could not clean up old log files");
  }
}
