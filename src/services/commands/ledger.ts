// The durable dedup ledger (behavior.md §6): one record per request_id, one file per record,
// each state on disk before the action it allows. The single place that decides whether a
// request_id is new.

import type { Dirent } from "node:fs";
import { mkdir, readdir, readFile, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { atomicWrite, isAtomicTemp, removeAtomicLeftovers } from "../fs/atomicWrite.js";
import type { Logger } from "../logging/logger.js";
import type { Clock } from "../time/clock.js";
import type { EpochMs } from "../wire/types.js";
import {
  decodeRecord,
  encodeRecord,
  isFingerprint,
  isRecordFileName,
  type LedgerRecord,
  type LedgerSource,
  recordFileName,
} from "./ledgerRecord.js";

export const DEFAULT_MAX_RECORDS = 10_000;
export const DEFAULT_MAX_AGE_MS = 8 * 24 * 60 * 60 * 1000;
export const DEFAULT_PRUNE_INTERVAL_MS = 60 * 60 * 1000;
const LOAD_CONCURRENCY = 32;
const CORRUPT_DIR = "corrupt";

export interface LedgerOptions {
  clock: Clock;
  log: Logger;
  /** Finished records kept beyond this count are pruned, oldest first (§6.5). */
  maxRecords?: number;
  /** Finished records received longer ago than this are pruned (§6.5). */
  maxAgeMs?: number;
}

export interface AdmitInput {
  requestId: string;
  fingerprint: string;
  source: LedgerSource;
  subject: string;
  receivedAt: EpochMs;
  /** The encoded command (JSON value), kept until finished for crash recovery (§6.6). */
  command?: unknown;
  rejection?: string;
}

export type AdmitOutcome = { outcome: "admitted" } | { outcome: "duplicate"; conflict: boolean };

interface PendingAdmission {
  fingerprint: string;
  done: Promise<void>;
}

export class Ledger {
  readonly #dir: string;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #maxRecords: number;
  readonly #maxAgeMs: number;
  /** Insertion order is admission order (loaded records sorted by received_at first). */
  readonly #records = new Map<string, LedgerRecord>();
  /** Admissions whose write is in flight: a concurrent delivery of the same id must not pass. */
  readonly #admitting = new Map<string, PendingAdmission>();
  /** Per request_id tail of file operations, so two writes of one file never race. */
  readonly #chains = new Map<string, Promise<void>>();
  /**
   * Finished request_ids in the order they finished (loaded ones by received_at): the eviction
   * order between prunes. Exact: `#remove` callers drop the ids they remove.
   */
  #finishedOrder: string[] = [];
  #finishedHead = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(dir: string, opts: LedgerOptions) {
    this.#dir = dir;
    this.#clock = opts.clock;
    this.#log = opts.log;
    this.#maxRecords = opts.maxRecords ?? DEFAULT_MAX_RECORDS;
    this.#maxAgeMs = opts.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
  }

  /**
   * Creates `dir` if needed, deletes leftover temporary files, loads every record (unreadable
   * ones go to `dir/corrupt/`) and prunes. Rejects only when the folder itself is unusable.
   */
  static async open(dir: string, opts: LedgerOptions): Promise<Ledger> {
    const ledger = new Ledger(dir, opts);
    try {
      await mkdir(dir, { recursive: true });
    } catch (err) {
      throw new Error(`ledger: cannot create ${dir}: ${(err as Error).message}`, { cause: err });
    }
    await removeAtomicLeftovers(dir);
    await ledger.#load();
    await ledger.prune();
    return ledger;
  }

  get size(): number {
    return this.#records.size;
  }

  lookup(requestId: string): LedgerRecord | undefined {
    return this.#records.get(requestId);
  }

  /**
   * The admission decision (§5.2 step 4, §6.4). Resolves `admitted` only once the record is on
   * disk. A request_id already recorded, or being recorded by a concurrent delivery, is a
   * duplicate. Rejects when the write fails (§6.8): nothing is remembered, so a redelivery can
   * be admitted later; concurrent deliveries that waited on the failed write reject too, so none
   * of them is acknowledged as a duplicate of a command that was never recorded.
   */
  async admit(input: AdmitInput): Promise<AdmitOutcome> {
    const id = input.requestId;
    if (this.#closed) throw new Error(`ledger: cannot admit request_id ${id}: closed`);
    if (id === "") throw new Error("ledger: admit needs a non-empty request_id");
    // A record the loader would refuse must not be written: it would be forgotten at restart.
    if (!isFingerprint(input.fingerprint)) {
      throw new Error(
        `ledger: admit of request_id ${id}: fingerprint is not lowercase hex SHA-256`,
      );
    }
    if (!Number.isSafeInteger(input.receivedAt) || input.receivedAt < 0) {
      throw new Error(`ledger: admit of request_id ${id}: received_at is not epoch milliseconds`);
    }

    const known = this.#records.get(id);
    if (known) return this.#duplicate(known.fingerprint, input);
    const pending = this.#admitting.get(id);
    if (pending) {
      try {
        await pending.done;
      } catch (err) {
        throw new Error(
          `ledger: request_id ${id} not admitted: the concurrent admission of it failed`,
          { cause: err },
        );
      }
      return this.#duplicate(pending.fingerprint, input);
    }

    const record: LedgerRecord = {
      requestId: id,
      fingerprint: input.fingerprint,
      source: input.source,
      subject: input.subject,
      receivedAt: input.receivedAt,
      state: "admitted",
    };
    if (input.command !== undefined) record.command = input.command;
    if (input.rejection !== undefined) record.rejection = input.rejection;
    Object.freeze(record);

    const done = this.#enqueue(id, async () => {
      try {
        await this.#write(record);
      } finally {
        this.#admitting.delete(id);
      }
      this.#records.set(id, record);
    });
    this.#admitting.set(id, { fingerprint: input.fingerprint, done });
    await done;
    this.#evictOverflow();
    return { outcome: "admitted" };
  }

  /** Step 10: `result_id`, `started_at` and the jitter's end are on disk before the wait. */
  markLaunching(
    requestId: string,
    launch: { resultId: string; startedAt: EpochMs; spawnAt: EpochMs },
  ): Promise<void> {
    return this.#transition(requestId, "launching", (r) => {
      if (r.state !== "admitted") return `state is ${r.state}, expected admitted`;
      return { ...r, state: "launching", ...launch };
    });
  }

  /** Step 12: on disk before the spawn (§6.3). */
  markRunning(requestId: string): Promise<void> {
    return this.#transition(requestId, "running", (r) => {
      if (r.state !== "launching") return `state is ${r.state}, expected launching`;
      return { ...r, state: "running" };
    });
  }

  /**
   * Step 13 and the outbox drain (§6.7). Already finished → no-op (the drain may race the
   * actor). No record → no-op too: records only disappear by pruning, which takes finished
   * ones, and signature refusals are never recorded (§17.5).
   */
  markFinished(requestId: string, end: { finishedAt: EpochMs; exitCode: number }): Promise<void> {
    return this.#transition(
      requestId,
      "finished",
      (r) => {
        if (r.state === "finished") return undefined;
        const { command: _command, rejection: _rejection, ...rest } = r;
        return { ...rest, state: "finished", ...end };
      },
      true,
    );
  }

  /** Records still to resume or settle at start (§6.6), oldest first. */
  unfinished(): LedgerRecord[] {
    const out: LedgerRecord[] = [];
    for (const r of this.#records.values()) if (r.state !== "finished") out.push(r);
    return out.sort((a, b) => a.receivedAt - b.receivedAt);
  }

  /**
   * §6.5: deletes finished records received more than `maxAgeMs` ago, then the oldest finished
   * ones while more than `maxRecords` remain. Unfinished records are never pruned. Returns how
   * many records were dropped.
   */
  async prune(): Promise<number> {
    const now = this.#clock.now();
    const finished: LedgerRecord[] = [];
    for (const r of this.#records.values()) if (r.state === "finished") finished.push(r);
    finished.sort((a, b) => a.receivedAt - b.receivedAt);

    let i = 0;
    while (i < finished.length && now - finished[i]!.receivedAt > this.#maxAgeMs) i++;
    const expired = i;
    let excess = this.#records.size - expired - this.#maxRecords;
    while (i < finished.length && excess > 0) {
      i++;
      excess--;
    }
    const victims = finished.slice(0, i);
    const removals = victims.map((r) => this.#remove(r));
    this.#finishedOrder = this.#finishedOrder
      .slice(this.#finishedHead)
      .filter((id) => this.#records.has(id));
    this.#finishedHead = 0;
    await Promise.all(removals);
    if (victims.length > 0) {
      this.#log.info(
        { expired, over_count: victims.length - expired, remaining: this.#records.size },
        "ledger pruned",
      );
    }
    return victims.length;
  }

  /** Runs `prune` every `intervalMs` (hourly by default) until `close`. */
  startPruneTimer(intervalMs = DEFAULT_PRUNE_INTERVAL_MS): void {
    clearInterval(this.#timer);
    this.#timer = setInterval(() => {
      this.prune().catch((err: unknown) => this.#log.error({ err }, "ledger prune failed"));
    }, intervalMs);
    // The timer alone must not keep the process alive.
    this.#timer.unref();
  }

  /** Stops the prune timer and waits for every write in flight. Later admits and marks reject. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    while (this.#chains.size > 0) await Promise.all(this.#chains.values());
  }

  #duplicate(storedFingerprint: string, input: AdmitInput): AdmitOutcome {
    const conflict = storedFingerprint !== input.fingerprint;
    const ctx = { request_id: input.requestId, source: input.source, subject: input.subject };
    if (conflict) this.#log.warn(ctx, "request_id conflict");
    else this.#log.debug(ctx, "duplicate request_id dropped");
    return { outcome: "duplicate", conflict };
  }

  /**
   * Applies `next` to the current record inside the record's operation chain, so concurrent
   * marks see each other's result. `next` returns the new record, undefined for a no-op, or a
   * string saying why the transition is not allowed.
   */
  #transition(
    requestId: string,
    state: LedgerRecord["state"],
    next: (r: LedgerRecord) => LedgerRecord | string | undefined,
    missingIsNoop = false,
  ): Promise<void> {
    if (this.#closed) {
      return Promise.reject(
        new Error(`ledger: cannot mark request_id ${requestId} ${state}: closed`),
      );
    }
    return this.#enqueue(requestId, async () => {
      const cur = this.#records.get(requestId);
      if (!cur) {
        if (missingIsNoop) return;
        throw new Error(`ledger: cannot mark request_id ${requestId} ${state}: no record`);
      }
      const updated = next(cur);
      if (updated === undefined) return;
      if (typeof updated === "string") {
        throw new Error(`ledger: cannot mark request_id ${requestId} ${state}: ${updated}`);
      }
      Object.freeze(updated);
      await this.#write(updated);
      this.#records.set(requestId, updated);
      if (updated.state === "finished") this.#finishedOrder.push(requestId);
    });
  }

  /**
   * Keeps memory at `maxRecords` between hourly prunes by dropping the records that finished
   * first (`prune` goes by received_at). O(1) per admission: no walk over the index.
   */
  #evictOverflow(): void {
    const order = this.#finishedOrder;
    while (this.#records.size > this.#maxRecords && this.#finishedHead < order.length) {
      const r = this.#records.get(order[this.#finishedHead++]!);
      if (r?.state === "finished") void this.#remove(r);
    }
    if (this.#finishedHead > 1024 && this.#finishedHead * 2 > order.length) {
      this.#finishedOrder = order.slice(this.#finishedHead);
      this.#finishedHead = 0;
    }
  }

  /** Forgets a finished record now and deletes its file in the record's chain (never rejects). */
  #remove(r: LedgerRecord): Promise<void> {
    this.#records.delete(r.requestId);
    const file = join(this.#dir, recordFileName(r.requestId));
    return this.#enqueue(r.requestId, () => unlink(file)).catch((err: NodeJS.ErrnoException) => {
      // A file left behind is pruned again at the next start.
      if (err.code !== "ENOENT") {
        this.#log.warn({ err, request_id: r.requestId, file }, "ledger: cannot delete record");
      }
    });
  }

  async #write(r: LedgerRecord): Promise<void> {
    const file = join(this.#dir, recordFileName(r.requestId));
    try {
      await atomicWrite(file, encodeRecord(r));
    } catch (err) {
      throw new Error(
        `ledger: cannot write ${r.state} record of request_id ${r.requestId} to ${file}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  #enqueue<T>(requestId: string, op: () => Promise<T>): Promise<T> {
    const prev = this.#chains.get(requestId);
    const run = prev ? prev.then(op) : op();
    const tail = run.then(
      () => {},
      () => {},
    );
    this.#chains.set(requestId, tail);
    void tail.then(() => {
      if (this.#chains.get(requestId) === tail) this.#chains.delete(requestId);
    });
    return run;
  }

  async #load(): Promise<void> {
    let entries: Dirent[];
    try {
      entries = await readdir(this.#dir, { withFileTypes: true });
    } catch (err) {
      throw new Error(`ledger: cannot list ${this.#dir}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const names = entries.filter((e) => e.isFile() && !isAtomicTemp(e.name)).map((e) => e.name);
    const loaded: LedgerRecord[] = [];
    for (let i = 0; i < names.length; i += LOAD_CONCURRENCY) {
      const batch = names.slice(i, i + LOAD_CONCURRENCY);
      const records = await Promise.all(batch.map((name) => this.#loadOne(name)));
      for (const r of records) if (r) loaded.push(r);
    }
    loaded.sort((a, b) => a.receivedAt - b.receivedAt);
    for (const r of loaded) {
      this.#records.set(r.requestId, Object.freeze(r));
      if (r.state === "finished") this.#finishedOrder.push(r.requestId);
    }
    this.#log.debug(
      { records: loaded.length, unfinished: loaded.length - this.#finishedOrder.length },
      "ledger loaded",
    );
  }

  async #loadOne(name: string): Promise<LedgerRecord | undefined> {
    // Anything in the folder the agent did not write as a record is set aside, not trusted.
    if (!isRecordFileName(name)) {
      await this.#quarantine(name, "not a ledger record file name");
      return undefined;
    }
    let text: string;
    try {
      text = await readFile(join(this.#dir, name), "utf8");
    } catch (err) {
      await this.#quarantine(name, `unreadable: ${(err as Error).message}`);
      return undefined;
    }
    const decoded = decodeRecord(name, text);
    if (!decoded.ok) {
      await this.#quarantine(name, decoded.error.message);
      return undefined;
    }
    return decoded.value;
  }

  async #quarantine(name: string, reason: string): Promise<void> {
    const from = join(this.#dir, name);
    const corrupt = join(this.#dir, CORRUPT_DIR);
    try {
      await mkdir(corrupt, { recursive: true });
      await rename(from, join(corrupt, name));
      this.#log.warn({ file: from, reason }, "ledger: unreadable record moved to corrupt/");
    } catch (err) {
      this.#log.error(
        { err, file: from, reason },
        "ledger: unreadable record ignored, cannot move it to corrupt/",
      );
    }
  }
}
