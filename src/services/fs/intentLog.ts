// Lines that must be on disk before an action and cannot wait for a thread-pool round trip:
// written and synced on the calling thread, in the journal's line format, in files of their own
// so that they never race the journal's group commits. Rotated once their lines are in the
// journal; whatever is left at a start is folded into the journal by its owner.

import fs from "node:fs";
import { readdir, readFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import { type JournalLine, lineOf, parseJournal } from "./journal.js";

const FILE_PATTERN = /^intents-(\d+)$/;

export interface IntentLogLoad {
  /** Every whole, valid line of every intents file, oldest file first. */
  lines: JournalLine[];
  /** The files they came from: remove them once the lines are kept elsewhere. */
  files: string[];
  /** Complete lines whose checksum or shape is wrong. */
  corruptLines: number;
}

export class IntentLog {
  readonly #dir: string;
  #seq: number;
  /** Opened at the first line: no empty file for an agent that never ran anything. */
  #fd: number | undefined;
  #path: string;
  #size = 0;

  private constructor(dir: string, seq: number) {
    this.#dir = dir;
    this.#seq = seq;
    this.#path = IntentLog.#pathOf(dir, seq);
  }

  /** Reads every `intents-<n>` file of `dir`, then starts a new one after them. */
  static async open(dir: string): Promise<{ log: IntentLog; load: IntentLogLoad }> {
    const seqs = (await readdir(dir))
      .map((name) => FILE_PATTERN.exec(name))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    const load: IntentLogLoad = { lines: [], files: [], corruptLines: 0 };
    for (const seq of seqs) {
      const path = IntentLog.#pathOf(dir, seq);
      // A torn last line is a write that never returned: its action never happened.
      const parsed = parseJournal(await readFile(path));
      load.lines.push(...parsed.lines);
      load.corruptLines += parsed.corruptLines;
      load.files.push(path);
    }
    return { log: new IntentLog(dir, (seqs.at(-1) ?? 0) + 1), load };
  }

  static #pathOf(dir: string, seq: number): string {
    return join(dir, `intents-${seq}`);
  }

  /** Bytes in the current file. */
  get size(): number {
    return this.#size;
  }

  /** The current file. */
  get path(): string {
    return this.#path;
  }

  /** The line `record` would write, for a writer in another process (the spawn helper). */
  lineFor(key: string, payload: string): string {
    const line = lineOf(key, payload);
    this.#size += Buffer.byteLength(line);
    return line;
  }

  /**
   * Appends a line and syncs it before returning; throws when it is not on disk (the file is cut
   * back to its previous length, best effort).
   */
  record(key: string, payload: string): void {
    const data = Buffer.from(lineOf(key, payload), "utf8");
    let fd: number | undefined;
    try {
      fd = this.#fd ??= fs.openSync(this.#path, "a", 0o600);
      let off = 0;
      while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off);
      fs.fdatasyncSync(fd);
    } catch (err) {
      try {
        if (fd !== undefined) fs.ftruncateSync(fd, this.#size);
      } catch {}
      throw new Error(`cannot write ${this.#path}: ${(err as Error).message}`, { cause: err });
    }
    this.#size += data.length;
  }

  /** Continues in a new file (at its first line); returns the path of the previous one. */
  rotate(): string {
    const old = this.#path;
    this.close();
    this.#seq++;
    this.#path = IntentLog.#pathOf(this.#dir, this.#seq);
    this.#size = 0;
    return old;
  }

  static async remove(paths: readonly string[]): Promise<void> {
    await Promise.all(paths.map((p) => unlink(p).catch(() => {})));
  }

  close(): void {
    const fd = this.#fd;
    this.#fd = undefined;
    if (fd === undefined) return;
    try {
      fs.closeSync(fd);
    } catch {}
  }
}
