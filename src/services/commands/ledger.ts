// The durable dedup ledger (behavior.md §6): one record per request_id, each state on disk before
// the action it allows, in a group-committed journal (`ledger/journal`). The single place that
// decides whether a request_id is new.

import type { Dirent } from "node:fs";
import { copyFile, mkdir, readdir, readFile, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { removeAtomicLeftovers } from "../fs/atomicWrite.js";
import { IntentLog } from "../fs/intentLog.js";
import { Journal } from "../fs/journal.js";
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
export const JOURNAL_FILE = "journal";
const LOAD_CONCURRENCY = 32;
/** The intent log moves to a new file once this many bytes of `running` lines are in it. */
const INTENTS_ROTATE_BYTES = 1024 * 1024;
/**
 * Intent syncs slower than this on average (a moving average: one writeback stall is not a slow
 * disk) block the event loop too long: the journal takes over …
 */
const SLOW_INTENT_MS = 4;
const INTENT_AVERAGE_WEIGHT = 0.05;
/** … for this long, then the intent log is tried again. */
const SLOW_INTENT_PAUSE_MS = 10 * 60 * 1000;
const CORRUPT_DIR = "corrupt";

export interface LedgerOptions {
  clock: Clock;
  log: Logger;
  /** Finished records kept beyond this count are pruned, oldest first (§6.5). */
  maxRecords?: number;
  /** Finished records received longer ago than this are pruned (§6.5). */
  maxAgeMs?: number;
  /** How long an admission may wait for a sync another write asks for (journal linger). */
  admitLingerMs?: number;
  /** Intent log rotation size (tests). */
  intentsRotateBytes?: number;
  /** Intent syncs slower than this on average send `running` lines through the journal (tests). */
  slowIntentMs?: number;
  /**
   * The spawner writes the intent lines (`takeSpawnIntent`): from the spawn helper's thread, so
   * the agent's never waits for that sync. Otherwise the ledger syncs them itself.
   */
  spawnerWritesIntents?: boolean;
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

export class Ledger {
  readonly #dir: string;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #maxRecords: number;
  readonly #maxAgeMs: number;
  #journal!: Journal;
  /**
   * `running` records, synced before the spawn by the spawner (`spawnerWritesIntents`) or on this
   * thread: the journal's thread-pool round trip costs more than the sync itself, on every
   * command's way to its spawn.
   */
  #intents!: IntentLog;
  /** Journal writes of the `running` lines in the current intents file: it goes once they land. */
  #intentLines = new Map<string, Promise<void>>();
  /** Rotated intents files not deleted yet, with the journal writes of their lines. */
  #oldIntents: Array<{ file: string; lines: Promise<void>[] }> = [];
  /** Intent lines for the spawner to write (`spawnerWritesIntents`), by request_id. */
  readonly #dueIntents = new Map<string, { file: string; line: string }>();
  readonly #spawnerWritesIntents: boolean;
  /** Intents files read at open, deleted once the journal holds the records taken from them. */
  #intentFiles: string[] = [];
  #intentFoldWrites: Promise<void>[] = [];
  #intentsPausedUntil = 0;
  #intentSyncMs = 0;
  #rotating = false;
  readonly #intentsRotateBytes: number;
  readonly #slowIntentMs: number;
  /**
   * Insertion order is admission order (loaded records sorted by received_at first). Holds what
   * is on disk, except for admissions whose line is still being synced (`#unsynced`).
   */
  readonly #records = new Map<string, LedgerRecord>();
  /** Admissions not yet on disk: resolve when they are, reject when they never will be. */
  readonly #unsynced = new Map<string, Promise<void>>();
  /** Per request_id tail of marks, so two marks of one record never race. */
  readonly #chains = new Map<string, Promise<void>>();
  /**
   * Finished request_ids in the order they finished (loaded ones by received_at): the eviction
   * order between prunes. Exact: `#remove` callers drop the ids they remove.
   */
  #finishedOrder: string[] = [];
  #finishedHead = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  /** Record files of the per-file layout read at open, deleted once the journal holds them. */
  #legacyFiles: string[] = [];
  #legacyWrites: Promise<void>[] = [];

  private constructor(dir: string, opts: LedgerOptions) {
    this.#dir = dir;
    this.#clock = opts.clock;
    this.#log = opts.log;
    this.#maxRecords = opts.maxRecords ?? DEFAULT_MAX_RECORDS;
    this.#maxAgeMs = opts.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
    this.#intentsRotateBytes = opts.intentsRotateBytes ?? INTENTS_ROTATE_BYTES;
    this.#slowIntentMs = opts.slowIntentMs ?? SLOW_INTENT_MS;
    this.#spawnerWritesIntents = opts.spawnerWritesIntents ?? false;
  }

  /**
   * Creates `dir` if needed, loads the journal (a torn last line is cut, damaged lines are set
   * aside in `dir/corrupt/`) and any record files of the one-file-per-record layout, prunes, and
   * rewrites the journal compactly. Rejects only when the folder itself is unusable.
   */
  static async open(dir: string, opts: LedgerOptions): Promise<Ledger> {
    const ledger = new Ledger(dir, opts);
    try {
      await mkdir(dir, { recursive: true });
    } catch (err) {
      throw new Error(`ledger: cannot create ${dir}: ${(err as Error).message}`, { cause: err });
    }
    await removeAtomicLeftovers(dir);
    await ledger.#load(opts.admitLingerMs);
    try {
      await ledger.prune();
      await ledger.#journal.compact();
    } catch (err) {
      await ledger.#journal.close();
      throw new Error(`ledger: cannot rewrite ${ledger.#journal.path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    await ledger.#removeLegacyFiles();
    await ledger.#removeIntentFiles();
    return ledger;
  }

  get size(): number {
    return this.#records.size;
  }

  lookup(requestId: string): LedgerRecord | undefined {
    return this.#records.get(requestId);
  }

  /**
   * The admission decision (§5.2 step 4, §6.4), taken at once in memory: a request_id already
   * recorded is a duplicate. The `admitted` record goes to disk with the next sync — at the
   * latest with the command's next state, which is on disk before its spawn — and `durable`
   * says when it is there. Rejects when the input could not be recorded.
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

    this.#records.set(id, record);
    const written = this.#journal.append(id, encodeRecord(record), false).then(
      () => {
        if (this.#unsynced.get(id) === written) this.#unsynced.delete(id);
      },
      (err: unknown) => {
        throw new Error(
          `ledger: request_id ${id} not admitted: cannot write its record: ${(err as Error).message}`,
          { cause: err },
        );
      },
    );
    written.catch(() => {}); // observed by `durable` callers; the loss is logged by #lost
    this.#unsynced.set(id, written);
    this.#evictOverflow();
    return { outcome: "admitted" };
  }

  /**
   * Resolves once the record of `requestId` is on disk, asking for a sync if its admission still
   * waits for one (`urgent`), or waiting for the next one. Rejects when it is not recorded — its
   * admission could not be written (§6.8): nothing may be run, answered or acknowledged for it.
   */
  durable(requestId: string, urgent = true): Promise<void> {
    const pending = this.#unsynced.get(requestId);
    if (pending) {
      if (urgent) this.#journal.flush();
      return pending;
    }
    if (this.#records.has(requestId)) return Promise.resolve();
    return Promise.reject(new Error(`ledger: request_id ${requestId} is not recorded`));
  }

  /**
   * Step 10: `result_id`, `started_at` and the jitter's end are on disk before the wait. With
   * `running`, nothing waits between launch and spawn (no jitter): steps 10 and 12 share one
   * write, straight to `running`, which is all a crash needs to know (§6.6: never run again).
   */
  markLaunching(
    requestId: string,
    launch: { resultId: string; startedAt: EpochMs; spawnAt: EpochMs },
    opts: { running?: boolean } = {},
  ): Promise<void> {
    const state: LedgerRecord["state"] = opts.running ? "running" : "launching";
    const next = (r: LedgerRecord): LedgerRecord | string =>
      r.state === "admitted"
        ? { ...r, state, ...launch }
        : `state is ${r.state}, expected admitted`;
    return opts.running
      ? this.#markRunningNow(requestId, next)
      : this.#transition(requestId, state, next);
  }

  /**
   * Step 12: on disk before the spawn (§6.3) — when it resolves, or, with `spawnerWritesIntents`,
   * once the spawner wrote `takeSpawnIntent`'s line. Already `running` (markLaunching) → no-op.
   */
  markRunning(requestId: string): Promise<void> {
    return this.#markRunningNow(requestId, (r) => {
      if (r.state === "running") return undefined;
      if (r.state !== "launching") return `state is ${r.state}, expected launching`;
      return { ...r, state: "running" };
    });
  }

  /**
   * Step 13 and the outbox drain (§6.7). Already finished → no-op (the drain may race the
   * actor). No record → no-op too: records only disappear by pruning, which takes finished
   * ones, and signature refusals are never recorded (§17.5).
   */
  markFinished(
    requestId: string,
    end: { finishedAt: EpochMs; exitCode: number; result?: string },
  ): Promise<void> {
    this.#dueIntents.delete(requestId); // never spawned (killed, failed): nobody takes it
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

  /**
   * The result kept by `markFinished` is published or in the outbox now: the record lets go of
   * it. Lazy (the next sync takes it along): if it is lost, the next start puts the result in
   * the outbox again and the broker's duplicate window absorbs the second publish.
   */
  releaseResult(requestId: string): Promise<void> {
    return this.#transition(
      requestId,
      "finished",
      (r) => {
        if (r.result === undefined) return undefined;
        const { result: _result, ...rest } = r;
        return rest;
      },
      true,
      false,
    );
  }

  /** Finished records still holding their result (recovery: §6.6 as extended by the journal). */
  heldResults(): LedgerRecord[] {
    const out: LedgerRecord[] = [];
    for (const r of this.#records.values()) if (r.result !== undefined) out.push(r);
    return out;
  }

  /** Records still to resume or settle at start (§6.6), oldest first. */
  unfinished(): LedgerRecord[] {
    const out: LedgerRecord[] = [];
    for (const r of this.#records.values()) if (r.state !== "finished") out.push(r);
    return out.sort((a, b) => a.receivedAt - b.receivedAt);
  }

  /**
   * §6.5: drops finished records received more than `maxAgeMs` ago, then the oldest finished
   * ones while more than `maxRecords` remain. Unfinished records are never pruned. Returns how
   * many records were dropped; the journal sheds them at its next compaction.
   */
  async prune(): Promise<number> {
    const now = this.#clock.now();
    const finished: LedgerRecord[] = [];
    // A record still holding its result is not done with: never pruned.
    for (const r of this.#records.values())
      if (r.state === "finished" && r.result === undefined) finished.push(r);
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
    for (const r of victims) this.#remove(r);
    this.#finishedOrder = this.#finishedOrder
      .slice(this.#finishedHead)
      .filter((id) => this.#records.has(id));
    this.#finishedHead = 0;
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

  /** Stops the prune timer, writes what is pending and closes. Later admits and marks reject. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    while (this.#chains.size > 0) await Promise.all(this.#chains.values());
    await this.#journal.close();
    // Its lines are in the journal now, unless a write failed: then the next start folds them in.
    this.#intents.close();
  }

  #duplicate(storedFingerprint: string, input: AdmitInput): AdmitOutcome {
    const conflict = storedFingerprint !== input.fingerprint;
    const ctx = { request_id: input.requestId, source: input.source, subject: input.subject };
    if (conflict) this.#log.warn(ctx, "request_id conflict");
    else this.#log.debug(ctx, "duplicate request_id dropped");
    return { outcome: "duplicate", conflict };
  }

  /**
   * Applies `next` to the current record inside the record's chain, so concurrent marks see each
   * other's result, and writes it at once (a sync that takes the admission along). `next`
   * returns the new record, undefined for a no-op, or why the transition is not allowed. Memory
   * follows only once the line is on disk: a failed mark leaves the previous state.
   */
  #transition(
    requestId: string,
    state: LedgerRecord["state"],
    next: (r: LedgerRecord) => LedgerRecord | string | undefined,
    missingIsNoop = false,
    urgent = true,
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
      try {
        await this.#journal.append(requestId, encodeRecord(updated), urgent);
      } catch (err) {
        throw new Error(
          `ledger: cannot write ${updated.state} record of request_id ${requestId}: ${(err as Error).message}`,
          { cause: err },
        );
      }
      // An admission lost meanwhile took this line with it (#lost): nothing to update.
      if (this.#records.get(requestId) !== cur) return;
      this.#records.set(requestId, updated);
      if (updated.state === "finished") this.#finishedOrder.push(requestId);
    });
  }

  /**
   * The intent line of a `running` mark (`spawnerWritesIntents`): the spawner appends and syncs it
   * before the fork (§6.3: on disk before the spawn). Once, then undefined.
   */
  takeSpawnIntent(requestId: string): { file: string; line: string } | undefined {
    const intent = this.#dueIntents.get(requestId);
    this.#dueIntents.delete(requestId);
    return intent;
  }

  /** The spawner wrote the intent line: the whole record, its admission too, is on disk. */
  spawnIntentWritten(requestId: string): void {
    this.#unsynced.delete(requestId);
  }

  /**
   * A `running` mark (§6.3: on disk before the spawn) into the intent log — synced here on this
   * thread, or by the spawner right before its fork — and lazily into the journal: its next sync
   * takes it along. While this thread's syncs are slow (a spinning disk), `#transition` writes it
   * through the journal instead.
   */
  #markRunningNow(
    requestId: string,
    next: (r: LedgerRecord) => LedgerRecord | string | undefined,
  ): Promise<void> {
    const paused = this.#clock.monotonic() < this.#intentsPausedUntil;
    if ((paused && !this.#spawnerWritesIntents) || this.#closed) {
      return this.#transition(requestId, "running", next);
    }
    return this.#enqueue(requestId, async () => {
      const cur = this.#records.get(requestId);
      if (!cur) throw new Error(`ledger: cannot mark request_id ${requestId} running: no record`);
      const updated = next(cur);
      if (updated === undefined) return;
      if (typeof updated === "string") {
        throw new Error(`ledger: cannot mark request_id ${requestId} running: ${updated}`);
      }
      Object.freeze(updated);
      const payload = encodeRecord(updated);
      if (this.#spawnerWritesIntents) {
        const file = this.#intents.path;
        this.#dueIntents.set(requestId, { file, line: this.#intents.lineFor(requestId, payload) });
      } else {
        const t0 = performance.now();
        try {
          this.#intents.record(requestId, payload);
        } catch (err) {
          throw new Error(
            `ledger: cannot write running record of request_id ${requestId}: ${(err as Error).message}`,
            { cause: err },
          );
        }
        this.#noteIntentSync(performance.now() - t0);
        // The intent holds the whole record: the admission is on disk too.
        this.#unsynced.delete(requestId);
      }
      this.#records.set(requestId, updated);
      const inJournal = this.#journal.append(requestId, payload, false);
      inJournal.catch(() => {}); // judged when the intents file rotates
      this.#intentLines.set(requestId, inJournal);
      if (this.#intents.size >= this.#intentsRotateBytes) void this.#rotateIntents();
    });
  }

  #noteIntentSync(ms: number): void {
    this.#intentSyncMs += (ms - this.#intentSyncMs) * INTENT_AVERAGE_WEIGHT;
    if (this.#intentSyncMs <= this.#slowIntentMs) return;
    this.#intentsPausedUntil = this.#clock.monotonic() + SLOW_INTENT_PAUSE_MS;
    this.#intentSyncMs = 0;
    this.#log.warn(
      { sync_ms: Math.round(ms * 10) / 10, pause_s: SLOW_INTENT_PAUSE_MS / 1000 },
      "ledger: slow disk sync; running records go through the journal's thread pool for a while",
    );
  }

  /**
   * A new intents file; an old one goes once the journal holds every line it had. When the
   * spawner writes the lines, the previous file is kept one rotation longer: spawn orders naming
   * it may still be on their way.
   */
  async #rotateIntents(): Promise<void> {
    if (this.#rotating) return;
    this.#rotating = true;
    try {
      this.#oldIntents.push({
        file: this.#intents.rotate(),
        lines: [...this.#intentLines.values()],
      });
      this.#intentLines = new Map();
      this.#journal.flush();
      const keep = this.#spawnerWritesIntents ? 1 : 0;
      while (this.#oldIntents.length > keep) {
        const { file, lines } = this.#oldIntents.shift()!;
        const written = await Promise.allSettled(lines);
        if (written.every((w) => w.status === "fulfilled")) await IntentLog.remove([file]);
        else
          this.#log.error(
            { file },
            "ledger: journal write failed; intents file kept for the next start",
          );
      }
    } catch (err) {
      this.#log.error({ err: (err as Error).message }, "ledger: cannot rotate the intents file");
    } finally {
      this.#rotating = false;
    }
    // Lines came in meanwhile: their file is due too.
    if (this.#intents.size >= this.#intentsRotateBytes && !this.#closed) void this.#rotateIntents();
  }

  /**
   * The journal could not write a batch (disk full, I/O error). Admissions in it are undone, so
   * that a redelivery is admitted again (§6.8); marks in it reject to their callers.
   */
  #lost(keys: ReadonlySet<string>, err: Error): void {
    for (const id of keys) {
      if (!this.#unsynced.has(id)) continue;
      const r = this.#records.get(id);
      this.#unsynced.delete(id);
      this.#records.delete(id);
      this.#log.error(
        { request_id: id, subject: r?.subject, source: r?.source, err: err.message },
        "command not admitted: ledger write failed (a replayed copy will come back)",
      );
    }
  }

  /**
   * Keeps memory at `maxRecords` between hourly prunes by dropping the records that finished
   * first (`prune` goes by received_at). O(1) per admission: no walk over the index.
   */
  #evictOverflow(): void {
    const order = this.#finishedOrder;
    while (this.#records.size > this.#maxRecords && this.#finishedHead < order.length) {
      const r = this.#records.get(order[this.#finishedHead++]!);
      if (r?.state === "finished" && r.result === undefined) this.#remove(r);
    }
    if (this.#finishedHead > 1024 && this.#finishedHead * 2 > order.length) {
      this.#finishedOrder = order.slice(this.#finishedHead);
      this.#finishedHead = 0;
    }
  }

  /** Forgets a finished record; the journal drops it at its next compaction. */
  #remove(r: LedgerRecord): void {
    this.#records.delete(r.requestId);
    this.#journal.forget(r.requestId);
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

  async #load(lingerMs: number | undefined): Promise<void> {
    const path = join(this.#dir, JOURNAL_FILE);
    let opened: Awaited<ReturnType<typeof Journal.open>>;
    try {
      opened = await Journal.open(path, {
        lingerMs,
        onLost: (keys, err) => this.#lost(keys, err),
      });
    } catch (err) {
      throw new Error(`ledger: cannot open ${path}: ${(err as Error).message}`, { cause: err });
    }
    const { journal, load } = opened;
    this.#journal = journal;
    if (load.tornBytes > 0) {
      this.#log.warn(
        { file: path, bytes: load.tornBytes },
        "ledger: torn last line of the journal cut off (a crash during a write)",
      );
    }
    let damaged = load.corruptLines;
    const loaded: LedgerRecord[] = [];
    for (const line of load.lines) {
      const decoded = decodeRecord(line.payload, line.key);
      if (decoded.ok) loaded.push(decoded.value);
      else {
        damaged++;
        journal.forget(line.key);
      }
    }
    if (damaged > 0) await this.#keepDamagedJournal(path, damaged);

    const inJournal = new Set(loaded.map((r) => r.requestId));
    for (const r of await this.#loadLegacyFiles()) {
      if (inJournal.has(r.requestId)) continue;
      loaded.push(r);
      // Folded into the journal by the compaction that ends `open`; the files go only after.
      const written = journal.append(r.requestId, encodeRecord(r), false);
      written.catch(() => {}); // judged in #removeLegacyFiles
      this.#legacyWrites.push(written);
    }

    const adopted = await this.#loadIntents(journal, loaded);
    if (adopted.length > 0) {
      const byId = new Map(loaded.map((r, i) => [r.requestId, i]));
      for (const r of adopted) {
        const i = byId.get(r.requestId);
        if (i === undefined) loaded.push(r);
        else loaded[i] = r;
      }
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

  /**
   * `running` records synced before their spawn whose journal line never landed (a crash within
   * the linger): they win over an older state, so the run is never repeated (§6.6).
   */
  async #loadIntents(journal: Journal, loaded: LedgerRecord[]): Promise<LedgerRecord[]> {
    let opened: Awaited<ReturnType<typeof IntentLog.open>>;
    try {
      opened = await IntentLog.open(this.#dir);
    } catch (err) {
      throw new Error(
        `ledger: cannot open the intent log in ${this.#dir}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    this.#intents = opened.log;
    this.#intentFiles = opened.load.files;
    const known = new Map(loaded.map((r) => [r.requestId, r]));
    const adopted = new Map<string, LedgerRecord>();
    let damaged = opened.load.corruptLines;
    for (const line of opened.load.lines) {
      const decoded = decodeRecord(line.payload, line.key);
      if (!decoded.ok || decoded.value.state !== "running") {
        damaged++;
        continue;
      }
      const r = decoded.value;
      const cur = adopted.get(r.requestId) ?? known.get(r.requestId);
      if (cur && (cur.state === "running" || cur.state === "finished")) continue;
      // Long forgotten (pruned) by the journal: not a run to report again.
      if (!cur && this.#clock.now() - r.receivedAt > this.#maxAgeMs) continue;
      adopted.set(r.requestId, r);
    }
    for (const r of adopted.values()) {
      const written = journal.append(r.requestId, encodeRecord(r), false);
      written.catch(() => {}); // judged in #removeIntentFiles
      this.#intentFoldWrites.push(written);
    }
    if (damaged > 0) {
      this.#log.warn({ dir: this.#dir, lines: damaged }, "ledger: damaged intent lines ignored");
    }
    if (adopted.size > 0) {
      this.#log.info(
        { records: adopted.size },
        "ledger: running records taken from the intent log",
      );
    }
    return [...adopted.values()];
  }

  /** A copy of a journal with damaged lines, for an operator; they are left out from now on. */
  async #keepDamagedJournal(path: string, lines: number): Promise<void> {
    const corrupt = join(this.#dir, CORRUPT_DIR);
    const copy = join(corrupt, `journal-${this.#clock.now()}-${process.pid}`);
    try {
      await mkdir(corrupt, { recursive: true });
      await copyFile(path, copy);
      this.#log.warn({ file: path, lines, copy }, "ledger: damaged journal lines ignored");
    } catch (err) {
      this.#log.error(
        { file: path, lines, err: (err as Error).message },
        "ledger: damaged journal lines ignored; cannot keep a copy in corrupt/",
      );
    }
  }

  /** Record files of the one-file-per-record layout (behavior.md 6.3), left by an older agent. */
  async #loadLegacyFiles(): Promise<LedgerRecord[]> {
    let entries: Dirent[];
    try {
      entries = await readdir(this.#dir, { withFileTypes: true });
    } catch (err) {
      throw new Error(`ledger: cannot list ${this.#dir}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const names = entries.filter((e) => e.isFile() && e.name.endsWith(".json")).map((e) => e.name);
    this.#legacyFiles = names;
    const loaded: LedgerRecord[] = [];
    for (let i = 0; i < names.length; i += LOAD_CONCURRENCY) {
      const batch = names.slice(i, i + LOAD_CONCURRENCY);
      const records = await Promise.all(batch.map((name) => this.#loadLegacyFile(name)));
      for (const r of records) if (r) loaded.push(r);
    }
    return loaded;
  }

  /** The intents files read at open go once the journal holds what was taken from them. */
  async #removeIntentFiles(): Promise<void> {
    const files = this.#intentFiles.splice(0);
    if (await this.#folded(this.#intentFoldWrites.splice(0), "running records of the intent log"))
      await IntentLog.remove(files);
  }

  /** Record files of the old layout go once their records are in the compacted journal. */
  async #removeLegacyFiles(): Promise<void> {
    const names = this.#legacyFiles.splice(0);
    if (
      !(await this.#folded(
        this.#legacyWrites.splice(0),
        "records of the one-file-per-record layout",
      ))
    )
      return;
    for (const name of names) await unlink(join(this.#dir, name)).catch(() => {});
  }

  /**
   * Whether every journal write of records taken from other files landed. If not, those files
   * are kept and read again at the next start; until then the records live in memory.
   */
  async #folded(writes: Promise<void>[], what: string): Promise<boolean> {
    const failed = (await Promise.allSettled(writes)).find((w) => w.status === "rejected");
    if (!failed) return true;
    this.#log.error(
      { dir: this.#dir, err: String(failed.reason) },
      `ledger: ${what} not moved to the journal; files kept`,
    );
    return false;
  }

  async #loadLegacyFile(name: string): Promise<LedgerRecord | undefined> {
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
    const decoded = decodeRecord(text);
    if (decoded.ok && recordFileName(decoded.value.requestId) !== name) {
      await this.#quarantine(name, "request_id does not match the file name");
      return undefined;
    }
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
