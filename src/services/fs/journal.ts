// An append-only, checksummed, group-committed log of keyed lines, kept small by compaction.
// It exists for speed: one `fdatasync` makes a whole batch of lines durable, where a file per
// record costs two fsyncs each (file and folder).

import { type FileHandle, open, readFile, rename, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import { crc32 } from "node:zlib";
import { syncDir } from "./atomicWrite.js";

/** How long a lazy line may wait for a sync another line asks for. */
export const DEFAULT_LINGER_MS = 10;
/** Compaction once the file is this much larger than its live lines, and at least … */
const COMPACT_RATIO = 2;
/** … this large. */
const COMPACT_MIN_BYTES = 1024 * 1024;

export interface JournalLine {
  key: string;
  payload: string;
}

export interface JournalLoad {
  /** The last valid line of every key (in the order each key first appears). */
  lines: JournalLine[];
  /** Bytes of a torn last line (a crash during an append), cut off. */
  tornBytes: number;
  /** Complete lines whose checksum or shape is wrong: skipped, never trusted. */
  corruptLines: number;
}

export interface JournalOptions {
  lingerMs?: number;
  /**
   * Called synchronously when a batch could not be written, before any promise rejects, with
   * the keys of every line that was lost (the batch and everything queued behind it).
   */
  onLost?: (keys: ReadonlySet<string>, err: Error) => void;
}

interface Pending {
  key: string;
  line: string;
  /** `forget` came after it was queued: written, but not kept by a compaction. */
  forgotten?: boolean;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * Line format: `<crc32 of payload, 8 hex> <key as JSON string> <payload>\n`. Payloads must not
 * contain a newline (JSON.stringify never writes one). A key's last line is its value; `forget`
 * drops a key at the next compaction.
 */
export class Journal {
  readonly path: string;
  readonly #lingerMs: number;
  readonly #onLost: JournalOptions["onLost"];
  #fh: FileHandle;
  /** Bytes known to be whole lines on disk. */
  #size: number;
  /** The last written line of each live key (what a compaction keeps). */
  readonly #latest = new Map<string, string>();
  #liveBytes = 0;
  #queue: Pending[] = [];
  #urgent = false;
  #linger: NodeJS.Timeout | undefined;
  #writing: Promise<void> | undefined;
  #compactWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  #closed = false;

  private constructor(path: string, fh: FileHandle, size: number, opts: JournalOptions) {
    this.path = path;
    this.#fh = fh;
    this.#size = size;
    this.#lingerMs = opts.lingerMs ?? DEFAULT_LINGER_MS;
    this.#onLost = opts.onLost;
  }

  /**
   * Reads `path` (absent = empty), cuts a torn tail, and opens it for appending. The caller
   * decides what the loaded lines mean and should `compact` once it has.
   */
  static async open(
    path: string,
    opts: JournalOptions = {},
  ): Promise<{ journal: Journal; load: JournalLoad }> {
    // A compaction a crash interrupted: the journal itself is still whole.
    await unlink(`${path}.compact`).catch(() => {});
    const fh = await open(path, "a+", 0o600);
    try {
      const buf = await readFile(path);
      const size = buf.length;
      const parsed = parseJournal(buf);
      if (parsed.goodBytes < size) {
        await fh.truncate(parsed.goodBytes);
        await fh.datasync();
      }
      const journal = new Journal(path, fh, parsed.goodBytes, opts);
      for (const l of parsed.lines) journal.#remember(l.key, lineOf(l.key, l.payload));
      const lines = [...journal.#latest].map(([key, line]) => ({ key, payload: payloadOf(line) }));
      return {
        journal,
        load: { lines, tornBytes: size - parsed.goodBytes, corruptLines: parsed.corruptLines },
      };
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    }
  }

  /** Bytes of whole lines in the file. */
  get size(): number {
    return this.#size;
  }

  /**
   * Appends a line; resolves once it is on disk. An urgent line is synced at once (with every
   * line queued before it); a lazy one waits up to `lingerMs` for another reason to sync.
   */
  append(key: string, payload: string, urgent: boolean): Promise<void> {
    if (this.#closed) return Promise.reject(new Error(`journal ${this.path}: closed`));
    if (payload.includes("\n")) {
      return Promise.reject(new Error(`journal ${this.path}: a payload must be one line`));
    }
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ key, line: lineOf(key, payload), resolve, reject });
      if (urgent) this.flush();
      else this.#linger ??= setTimeout(() => this.flush(), this.#lingerMs);
    });
  }

  /** Syncs every queued line now (after the write in progress). */
  flush(): void {
    this.#urgent = true;
    clearTimeout(this.#linger);
    this.#linger = undefined;
    this.#writing ??= this.#drain().finally(() => {
      this.#writing = undefined;
      if ((this.#queue.length > 0 && this.#urgent) || this.#compactWaiters.length > 0) this.flush();
    });
  }

  /** Drops a key: its lines go at the next compaction. */
  forget(key: string): void {
    for (const p of this.#queue) if (p.key === key) p.forgotten = true;
    const line = this.#latest.get(key);
    if (line === undefined) return;
    this.#latest.delete(key);
    this.#liveBytes -= Buffer.byteLength(line);
  }

  /**
   * Rewrites the file with the last line of every live key (temporary file, fsync, rename,
   * folder fsync), after the lines queued so far. Appends wait meanwhile.
   */
  compact(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error(`journal ${this.path}: closed`));
    return new Promise<void>((resolve, reject) => {
      this.#compactWaiters.push({ resolve, reject });
      this.flush();
    });
  }

  /** Writes what is queued, then closes the file. Later appends reject. */
  async close(): Promise<void> {
    if (this.#closed) return;
    // Closed first: what is queued now is written, what comes later is refused.
    this.#closed = true;
    if (this.#queue.length > 0) this.flush();
    while (this.#writing) await this.#writing;
    clearTimeout(this.#linger);
    await this.#fh.close().catch(() => {});
  }

  /** The single writer: batches of lines, then compactions, until nothing urgent is left. */
  async #drain(): Promise<void> {
    for (;;) {
      if (this.#queue.length > 0 && this.#urgent) {
        this.#urgent = false;
        await this.#writeBatch();
        continue;
      }
      const waiters = this.#compactWaiters.splice(0);
      const due = this.#size > Math.max(COMPACT_MIN_BYTES, COMPACT_RATIO * this.#liveBytes);
      if (waiters.length === 0 && !due) return;
      try {
        await this.#rewrite();
        for (const w of waiters) w.resolve();
      } catch (err) {
        // An automatic compaction is an optimisation: the file stays valid and grows meanwhile.
        for (const w of waiters) w.reject(err as Error);
        if (waiters.length === 0) return;
      }
    }
  }

  async #writeBatch(): Promise<void> {
    const batch = this.#queue;
    this.#queue = [];
    const data = Buffer.from(batch.map((p) => p.line).join(""), "utf8");
    try {
      await writeAll(this.#fh, data);
      await this.#fh.datasync();
    } catch (err) {
      await this.#fail(batch, err as Error);
      return;
    }
    this.#size += data.length;
    for (const p of batch) if (!p.forgotten) this.#remember(p.key, p.line);
    for (const p of batch) p.resolve();
  }

  /** A failed batch loses it and everything queued behind it; the file is cut back. */
  async #fail(batch: Pending[], err: Error): Promise<void> {
    const lost = [...batch, ...this.#queue];
    this.#queue = [];
    this.#urgent = false;
    clearTimeout(this.#linger);
    this.#linger = undefined;
    const keys = new Set(lost.map((p) => p.key));
    const wrapped = new Error(`journal ${this.path}: cannot append: ${err.message}`, {
      cause: err,
    });
    this.#onLost?.(keys, wrapped);
    for (const p of lost) p.reject(wrapped);
    // Part of the batch may be on disk: cut it so that the next lines follow whole ones.
    await this.#fh.truncate(this.#size).catch(() => {});
  }

  async #rewrite(): Promise<void> {
    const tmp = `${this.path}.compact`;
    const out = await open(tmp, "w", 0o600);
    let bytes = 0;
    try {
      const lines = [...this.#latest.values()];
      for (let i = 0; i < lines.length; i += 512) {
        const data = Buffer.from(lines.slice(i, i + 512).join(""), "utf8");
        await writeAll(out, data);
        bytes += data.length;
      }
      await out.datasync();
    } catch (err) {
      await out.close().catch(() => {});
      await unlink(tmp).catch(() => {});
      throw err;
    }
    await out.close();
    // Closed before the rename: Windows cannot replace a file that is open.
    await this.#fh.close().catch(() => {});
    try {
      await rename(tmp, this.path);
      await syncDir(dirname(this.path));
      this.#size = bytes;
    } finally {
      this.#fh = await open(this.path, "a", 0o600);
    }
  }

  #remember(key: string, line: string): void {
    const old = this.#latest.get(key);
    if (old !== undefined) this.#liveBytes -= Buffer.byteLength(old);
    this.#latest.set(key, line);
    this.#liveBytes += Buffer.byteLength(line);
  }
}

/** `write(2)` may take less than asked (a disk filling up): go on until all is written. */
async function writeAll(fh: FileHandle, data: Buffer): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const { bytesWritten } = await fh.write(data, off, data.length - off, null);
    if (bytesWritten <= 0) throw new Error(`short write: ${off} of ${data.length} bytes`);
    off += bytesWritten;
  }
}

/** One journal line: `<crc32 hex> <key as JSON> <payload>\n` (also the intent log's format). */
export function lineOf(key: string, payload: string): string {
  const body = `${JSON.stringify(key)} ${payload}`;
  return `${crc32(body).toString(16).padStart(8, "0")} ${body}\n`;
}

/** The payload of a line made by `lineOf` (without its newline). */
function payloadOf(line: string): string {
  const body = line.slice(9, -1);
  return body.slice(keyEnd(body) + 1);
}

/** Index just after the JSON string that starts `body`. */
function keyEnd(body: string): number {
  if (body[0] !== '"') return -1;
  for (let i = 1; i < body.length; i++) {
    if (body[i] === "\\") i++;
    else if (body[i] === '"') return i + 1;
  }
  return -1;
}

/** Splits a journal's bytes into valid lines; a last line without its newline is torn. */
export function parseJournal(buf: Buffer): {
  lines: JournalLine[];
  goodBytes: number;
  corruptLines: number;
} {
  const lines: JournalLine[] = [];
  let corruptLines = 0;
  let start = 0;
  for (;;) {
    const nl = buf.indexOf(0x0a, start);
    if (nl < 0) break;
    const text = buf.toString("utf8", start, nl);
    start = nl + 1;
    const parsed = parseLine(text);
    if (parsed) lines.push(parsed);
    else corruptLines++;
  }
  return { lines, goodBytes: start, corruptLines };
}

function parseLine(text: string): JournalLine | undefined {
  if (text.length < 12 || text[8] !== " ") return undefined;
  const body = text.slice(9);
  if (crc32(body).toString(16).padStart(8, "0") !== text.slice(0, 8)) return undefined;
  const end = keyEnd(body);
  if (end < 0 || body[end] !== " ") return undefined;
  try {
    const key = JSON.parse(body.slice(0, end)) as unknown;
    if (typeof key !== "string") return undefined;
    return { key, payload: body.slice(end + 1) };
  } catch {
    return undefined;
  }
}
