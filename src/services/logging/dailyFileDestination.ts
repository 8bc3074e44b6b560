import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import type { Clock } from "../time/clock.js";
import { datedLogPath, type LogFileNaming, utcDate } from "./logFileNames.js";
import { errorText, type PruneOutcome, pruneOldLogs } from "./retention.js";

/** What the destination tells its owner; it cannot log itself (it IS the log). */
export type DailyFileNotice =
  | { kind: "unwritable"; file: string; reason: string }
  | { kind: "pruned"; outcome: PruneOutcome };

/** A file that failed is tried again on the next write after this long, or on a new date. */
const REOPEN_AFTER_MS = 60_000;

/**
 * A pino destination writing to `<stem>.YYYY-MM-DD<ext>` (UTC date of the injected clock),
 * switching files on the first write of a new date and deleting old ones then (behavior.md 20.1).
 * Writes are synchronous so that the lines before a crash are on disk.
 */
export class DailyFileDestination {
  #fd: number | null = null;
  #file: string | null = null;
  /** Date of the open file, or of the last failed attempt. */
  #date: string | null = null;
  #failedAt: number | null = null;
  #closed = false;

  constructor(
    private readonly naming: LogFileNaming,
    private readonly keepDays: number,
    private readonly clock: Clock,
    private readonly notify: (notice: DailyFileNotice) => void,
  ) {}

  /** Opens today's file (creating its folder) and deletes old files; throws when it cannot. */
  open(): void {
    const date = utcDate(this.clock.now());
    this.#openFor(date);
    this.#prune();
  }

  /** The file lines go to now, or null while none is open. */
  get currentFile(): string | null {
    return this.#fd === null ? null : this.#file;
  }

  write(line: string): void {
    if (this.#closed) return;
    this.maintain();
    const fd = this.#fd;
    if (fd === null) return;
    try {
      writeSync(fd, line);
    } catch (err) {
      this.#fail(this.#file ?? "", err);
    }
  }

  /** Switches to the new date's file and prunes, when the date changed; cheap otherwise. */
  maintain(): void {
    if (this.#closed) return;
    const date = utcDate(this.clock.now());
    const dateChanged = date !== this.#date;
    const retryDue =
      this.#fd === null &&
      this.#failedAt !== null &&
      this.clock.monotonic() - this.#failedAt >= REOPEN_AFTER_MS;
    if (!dateChanged && !retryDue) return;
    try {
      this.#openFor(date);
    } catch (err) {
      this.#fail(datedLogPath(this.naming, date), err);
    }
    if (dateChanged) this.#prune();
  }

  close(): void {
    this.#closed = true;
    this.#closeFd();
  }

  #openFor(date: string): void {
    this.#closeFd();
    this.#date = date;
    const file = datedLogPath(this.naming, date);
    this.#file = file;
    mkdirSync(this.naming.dir, { recursive: true });
    this.#fd = openSync(file, "a");
    this.#failedAt = null;
  }

  #fail(file: string, err: unknown): void {
    const firstFailure = this.#failedAt === null;
    this.#closeFd();
    this.#failedAt = this.clock.monotonic();
    // One notice per outage, not one per line.
    if (firstFailure) this.notify({ kind: "unwritable", file, reason: errorText(err) });
  }

  #prune(): void {
    const outcome = pruneOldLogs(this.naming, this.clock.now(), this.keepDays);
    if (outcome.deleted.length > 0 || outcome.failures.length > 0) {
      this.notify({ kind: "pruned", outcome });
    }
  }

  #closeFd(): void {
    const fd = this.#fd;
    this.#fd = null;
    if (fd === null) return;
    try {
      closeSync(fd);
    } catch {
      // Already gone (EBADF); nothing to keep.
    }
  }
}
