import { mkdir, readdir, readFile, rename, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { atomicWrite, isAtomicTemp, removeAtomicLeftovers } from "../fs/atomicWrite.js";
import type { Logger } from "../logging/logger.js";

/** Above this many files an outbox logs an hourly warning (behavior.md 8.6); nothing is dropped. */
export const OUTBOX_WARN_FILES = 10_000;
/** Above this many bytes an outbox logs an hourly warning (behavior.md 8.6). */
export const OUTBOX_WARN_BYTES = 1024 ** 3;
/** How often stuck files and an oversized outbox are reported (behavior.md 8.6). */
export const OUTBOX_REPORT_INTERVAL_MS = 3_600_000;

const STUCK = "stuck";
const SUFFIX = ".json";
// Ids the agent mints are UUIDs; anything else cannot safely become a file name.
const FILE_ID = /^[A-Za-z0-9_-]{1,200}$/;
// Files whose bytes stay in memory after writing (the ones about to be published).
const RECENT_FILES = 64;
// Bounds the search for a free name in stuck/; far beyond anything an operator leaves there.
const MAX_STUCK_DUPLICATES = 10_000;

export interface OutboxEntry {
  /** File name inside the outbox folder, e.g. `<result_id>.json`. */
  name: string;
  mtimeMs: number;
  size: number;
}

export interface OutboxStoreOptions {
  log: Logger;
  /** Overrides for tests; defaults are OUTBOX_WARN_FILES / OUTBOX_WARN_BYTES. */
  warnFiles?: number;
  warnBytes?: number;
}

/**
 * One outbox folder (`outbox/` or `events-outbox/`, behavior.md §8): payload files named
 * `<result_id>.json`, written atomically, and a `stuck/` folder for files an operator must look
 * at. The folder is the queue: nothing is held in memory, so results survive restarts.
 */
export class OutboxStore {
  readonly dir: string;
  readonly stuckDir: string;
  readonly #log: Logger;
  readonly #warnFiles: number;
  readonly #warnBytes: number;
  /**
   * The bytes of the files written last, so that publishing one right after writing it does not
   * read it back from the disk. Files are never rewritten under the same name.
   */
  readonly #recent = new Map<string, Buffer>();

  private constructor(dir: string, opts: OutboxStoreOptions) {
    this.dir = dir;
    this.stuckDir = join(dir, STUCK);
    this.#log = opts.log.child({ outbox: dir });
    this.#warnFiles = opts.warnFiles ?? OUTBOX_WARN_FILES;
    this.#warnBytes = opts.warnBytes ?? OUTBOX_WARN_BYTES;
  }

  /**
   * Creates the folder if needed, removes temporary files of writes a crash interrupted, and
   * reports stuck files and an oversized outbox once.
   */
  static async open(dir: string, opts: OutboxStoreOptions): Promise<OutboxStore> {
    const store = new OutboxStore(dir, opts);
    await mkdir(dir, { recursive: true });
    const removed = await removeAtomicLeftovers(dir);
    if (removed > 0) store.#log.info({ removed }, "removed unfinished outbox writes");
    await store.report();
    return store;
  }

  /**
   * Writes `payload` as `<result_id>.json`, atomically, with the private members (names starting
   * with `_`) next to it; they are bookkeeping for the drain and never published. Returns the name.
   */
  async write(
    payload: Readonly<Record<string, unknown>>,
    privateMembers: Readonly<Record<string, unknown>> = {},
  ): Promise<string> {
    const resultId = payload.result_id;
    if (typeof resultId !== "string" || !FILE_ID.test(resultId)) {
      throw new Error(
        `outbox ${this.dir}: cannot write a payload whose result_id is ${JSON.stringify(resultId)} (must be 1–200 characters of A-Z a-z 0-9 _ -)`,
      );
    }
    for (const key of Object.keys(payload)) {
      if (key.startsWith("_")) {
        throw new Error(
          `outbox ${this.dir}: payload member ${key} starts with "_" and would never be published`,
        );
      }
    }
    for (const key of Object.keys(privateMembers)) {
      if (!key.startsWith("_")) {
        throw new Error(`outbox ${this.dir}: private member ${key} must start with "_"`);
      }
    }
    const name = `${resultId}${SUFFIX}`;
    const data = Buffer.from(JSON.stringify({ ...payload, ...privateMembers }), "utf8");
    await atomicWrite(join(this.dir, name), data);
    this.#recent.set(name, data);
    if (this.#recent.size > RECENT_FILES) this.#recent.delete(this.#recent.keys().next().value!);
    return name;
  }

  /** Payload files, oldest modification time first, then by name (behavior.md 8.2). */
  async list(): Promise<OutboxEntry[]> {
    const names = await this.#payloadNames(this.dir);
    const entries: OutboxEntry[] = [];
    for (const name of names) {
      const st = await stat(join(this.dir, name)).catch(ignoreMissing);
      if (st?.isFile()) entries.push({ name, mtimeMs: st.mtimeMs, size: st.size });
    }
    entries.sort((a, b) =>
      a.mtimeMs !== b.mtimeMs
        ? a.mtimeMs - b.mtimeMs
        : a.name < b.name
          ? -1
          : a.name > b.name
            ? 1
            : 0,
    );
    return entries;
  }

  /** The raw bytes of one payload file; undefined when it is gone. */
  async read(name: string): Promise<Buffer | undefined> {
    const recent = this.#recent.get(name);
    if (recent) return recent;
    return readFile(join(this.dir, checkName(name))).catch(ignoreMissing);
  }

  /** Deletes a payload file; a file already gone is fine. */
  async remove(name: string): Promise<void> {
    this.#recent.delete(name);
    await unlink(join(this.dir, checkName(name))).catch(ignoreMissing);
  }

  /**
   * Moves a payload file to `stuck/`, never overwriting: `x.json`, then `x.json.1`, `x.json.2` …
   * Logs why. Returns the name it got in `stuck/`, or undefined if the file was already gone.
   */
  async moveToStuck(name: string, reason: string): Promise<string | undefined> {
    checkName(name);
    this.#recent.delete(name);
    await mkdir(this.stuckDir, { recursive: true });
    for (let n = 0; n <= MAX_STUCK_DUPLICATES; n++) {
      const target = n === 0 ? name : `${name}.${n}`;
      const taken = await stat(join(this.stuckDir, target)).then(
        () => true,
        (err: unknown) => {
          if (isMissing(err)) return false;
          throw err;
        },
      );
      if (taken) continue;
      try {
        await rename(join(this.dir, name), join(this.stuckDir, target));
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw new Error(`outbox ${this.dir}: cannot move ${name} to stuck/: ${String(err)}`, {
          cause: err,
        });
      }
      this.#log.error({ file: name, stuck_as: target, reason }, "outbox file moved to stuck/");
      return target;
    }
    throw new Error(`outbox ${this.stuckDir}: no free name for ${name}`);
  }

  /**
   * Whether `<result_id>.json` is waiting in the outbox or was set aside in `stuck/` (crash
   * recovery, behavior.md 6.6: a result exists for that run).
   */
  async has(resultId: string): Promise<boolean> {
    if (!FILE_ID.test(resultId)) return false;
    const name = `${resultId}${SUFFIX}`;
    for (const path of [join(this.dir, name), join(this.stuckDir, name)]) {
      if (await stat(path).then(() => true, ignoreMissingAsFalse)) return true;
    }
    const stuck = await readdir(this.stuckDir).catch(() => [] as string[]);
    return stuck.some((n) => n.startsWith(`${name}.`));
  }

  /** Number of payload files waiting (stuck/ not included). */
  async count(): Promise<number> {
    return (await this.#payloadNames(this.dir)).length;
  }

  /** Total size of the payload files waiting (stuck/ not included). */
  async bytes(): Promise<number> {
    return (await this.list()).reduce((sum, e) => sum + e.size, 0);
  }

  /** Number of files in `stuck/`. */
  async stuckCount(): Promise<number> {
    const names = await readdir(this.stuckDir).catch(() => [] as string[]);
    return names.filter((n) => !isAtomicTemp(n)).length;
  }

  /** Logs stuck files when there are any and warns when the outbox is over its size limits. */
  async report(): Promise<void> {
    const stuck = await this.stuckCount();
    if (stuck > 0) {
      this.#log.warn(
        { stuck, stuck_dir: this.stuckDir },
        "outbox has stuck files; they are never retried, an operator must look at them",
      );
    }
    const entries = await this.list();
    const bytes = entries.reduce((sum, e) => sum + e.size, 0);
    if (entries.length > this.#warnFiles || bytes > this.#warnBytes) {
      this.#log.warn(
        { files: entries.length, bytes, warn_files: this.#warnFiles, warn_bytes: this.#warnBytes },
        "outbox is large: the broker has not taken its files for a while (nothing is dropped)",
      );
    }
  }

  async #payloadNames(dir: string): Promise<string[]> {
    const dirents = await readdir(dir, { withFileTypes: true }).catch(() => []);
    return dirents
      .filter((d) => d.isFile() && d.name.endsWith(SUFFIX) && !isAtomicTemp(d.name))
      .map((d) => d.name);
  }
}

/**
 * Calls `report()` of each store every `intervalMs` (hourly by default); returns stop. Errors are
 * logged and the timer keeps going.
 */
export function startOutboxReports(
  stores: readonly OutboxStore[],
  log: Logger,
  intervalMs = OUTBOX_REPORT_INTERVAL_MS,
): () => void {
  const timer = setInterval(() => {
    for (const store of stores) {
      store.report().catch((err: unknown) => {
        log.warn({ outbox: store.dir, err: String(err) }, "outbox report failed");
      });
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

function checkName(name: string): string {
  if (name.includes("/") || name.includes("\\") || name === "." || name === "..") {
    throw new Error(`not an outbox file name: ${JSON.stringify(name)}`);
  }
  return name;
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
}

function ignoreMissing(err: unknown): undefined {
  if (isMissing(err)) return undefined;
  throw err;
}

function ignoreMissingAsFalse(err: unknown): false {
  if (isMissing(err)) return false;
  throw err;
}
