import type { StreamName } from "../exec/capture.js";
import type { Logger } from "../logging/logger.js";
import { eventStartedSubject, resultSubject } from "../nats/subjects.js";
import type { Clock } from "../time/clock.js";
import { decodeEventStarted, encodeEventStarted } from "../wire/eventStarted.js";
import { decodeExecResult } from "../wire/execResult.js";
import { dottedNameProblem, tokenProblem } from "../wire/ids.js";
import type { EventStarted, ExecResult } from "../wire/types.js";
import {
  classifyPublishError,
  describeError,
  type FailureClass,
  isNoResponders,
  isTransportError,
  NotConnectedError,
  PayloadTooLargeError,
} from "./failures.js";
import { fitExecResult, payloadBudget } from "./fit.js";
import { PUBACK_TIMEOUT_MS, type Publisher } from "./publisher.js";
import { parseOutboxFile, sourcesFromFile } from "./resultFile.js";
import type { OutboxEntry, OutboxStore } from "./store.js";

export type OutboxKind = "result" | "event";

/**
 * Called after the PubAck and before the file is deleted; the lead marks a still-`running` ledger
 * record `finished` here (behavior.md 8.3, 6.7). If it throws, the file stays and the failure
 * counts against it.
 */
export type PublishedHook = (
  ...args: ["result", ExecResult] | ["event", EventStarted]
) => void | Promise<void>;

/** Per-file delays after counted failures, and when to give up (behavior.md 8.4). */
export interface FileBackoff {
  baseMs: number;
  capMs: number;
  /** Consecutive counted failures after which the file moves to `stuck/`. */
  stuckAfter: number;
}

export const DEFAULT_FILE_BACKOFF: FileBackoff = { baseMs: 1_000, capMs: 300_000, stuckAfter: 10 };

export interface OutboxDrainerOptions {
  events: OutboxStore;
  results: OutboxStore;
  publisher: Publisher;
  clock: Clock;
  log: Logger;
  onPublished?: PublishedHook;
  backoff?: Partial<FileBackoff>;
  ackTimeoutMs?: number;
}

export interface PassOptions {
  /** `clock.monotonic()` time by which the pass must be over (shutdown: behavior.md 18.2). */
  deadline?: number;
}

export interface PassReport {
  published: number;
  stuck: number;
  /** Files that failed in a way that counts against them. */
  failed: number;
  /** Files skipped because their backoff had not expired. */
  delayed: number;
  /** Why the pass ended before the last file, if it did. */
  ended?: "systemic" | "deadline" | "stopped";
  /** The systemic error that ended the pass. */
  error?: string;
}

type FileOutcome =
  | { kind: "published" }
  | { kind: "gone" }
  | { kind: "stuck" }
  | { kind: "failed"; cls: FailureClass; error: string }
  | { kind: "deadline" };

interface Prepared {
  subject: string;
  data: Buffer;
  msgId: string | undefined;
  published: () => void | Promise<void>;
  log: Logger;
}

interface FailureState {
  failures: number;
  notBefore: number;
}

class SystemicUploadError extends Error {
  override readonly name = "SystemicUploadError";
}

/**
 * Publishes the outbox files, `events-outbox/` first, then `outbox/`, oldest first, and deletes
 * each only after its PubAck (behavior.md 8.2–8.4). One pass at a time; counts live in memory.
 */
export class OutboxDrainer {
  readonly #o: OutboxDrainerOptions;
  readonly #backoff: FileBackoff;
  readonly #ackTimeoutMs: number;
  readonly #failures = new Map<string, FailureState>();
  /** Files being processed, by a pass or by `publishNow`: never both at once. */
  readonly #busy = new Set<string>();
  #chain: Promise<unknown> = Promise.resolve();
  #stopRequested = false;
  #lastSystemic: string | undefined;

  constructor(opts: OutboxDrainerOptions) {
    this.#o = opts;
    this.#backoff = { ...DEFAULT_FILE_BACKOFF, ...opts.backoff };
    this.#ackTimeoutMs = opts.ackTimeoutMs ?? PUBACK_TIMEOUT_MS;
  }

  /** Runs one pass after any pass in progress. */
  runPass(opts: PassOptions = {}): Promise<PassReport> {
    const run = this.#chain.then(() => this.#pass(opts));
    this.#chain = run.catch(() => {});
    return run;
  }

  /**
   * Publishes one file that was just written, outside the passes, so that a result reaches the
   * backend within milliseconds of the child's exit instead of at the next pass. Whatever fails
   * here is left to the passes (a counted failure is counted); never rejects.
   */
  async publishNow(kind: OutboxKind, name: string): Promise<void> {
    const store = kind === "result" ? this.#o.results : this.#o.events;
    if (!this.#o.publisher.connected()) return;
    const key = failureKey(store, name);
    if (this.#failures.has(key)) return; // backing off: the passes own it
    try {
      const outcome = await this.#processClaimed(store, kind, name, {});
      if (outcome?.kind === "failed" && outcome.cls !== "systemic") {
        await this.#countFailure(store, name, outcome.error);
      }
    } catch (err) {
      this.#o.log.warn(
        { outbox: store.dir, file: name, err: describeError(err) },
        "immediate publish failed; the next pass retries",
      );
    }
  }

  /**
   * Publishes a result that is durable elsewhere (the ledger holds it) without an outbox file:
   * fitted like a file's, sent, PubAck awaited. True once acked; false when it could not be
   * (not connected, refused, no ack): the caller then writes it to the outbox. Never rejects.
   * `complete`: `raw` is the whole ExecResult with no private members (see below).
   */
  async publishResult(
    raw: Buffer,
    complete?: { requestId: string; resultId: string },
  ): Promise<boolean> {
    if (!this.#o.publisher.connected()) return false;
    if (complete && raw.length <= payloadBudget(this.#o.publisher.maxPayload())) {
      // Bytes the agent just encoded, nothing private, fitting max_payload: sent as they are,
      // without parsing and encoding them again. The ledger already says finished: no hook.
      try {
        await this.#send(
          {
            subject: resultSubject(complete.requestId),
            data: raw,
            msgId: complete.resultId || undefined,
            published: () => {},
            log: this.#o.log,
          },
          this.#ackTimeoutMs,
        );
        return true;
      } catch (err) {
        this.#o.log.debug(
          { request_id: complete.requestId, err: describeError(err) },
          "immediate result publish failed; left to the outbox",
        );
        return false;
      }
    }
    const log = this.#o.log.child({ outbox: "ledger" });
    try {
      const prepared = await this.#prepareResult(raw, log, this.#ackTimeoutMs);
      if (typeof prepared === "string") {
        log.error({ reason: prepared }, "result not publishable; left to the outbox");
        return false;
      }
      await this.#send(prepared, this.#ackTimeoutMs);
      await prepared.published();
      return true;
    } catch (err) {
      log.debug({ err: describeError(err) }, "immediate result publish failed; left to the outbox");
      return false;
    }
  }

  /** Makes the pass in progress end after its current file. */
  requestStop(): void {
    this.#stopRequested = true;
  }

  /** Consecutive counted failures of a file (for tests and diagnostics). */
  failuresOf(store: OutboxStore, name: string): number {
    return this.#failures.get(failureKey(store, name))?.failures ?? 0;
  }

  async #pass(opts: PassOptions): Promise<PassReport> {
    this.#stopRequested = false;
    const report: PassReport = { published: 0, stuck: 0, failed: 0, delayed: 0 };
    const folders: [OutboxStore, OutboxKind][] = [
      [this.#o.events, "event"],
      [this.#o.results, "result"],
    ];
    for (const [store, kind] of folders) {
      // Offline: not even worth listing the folders (passes keep coming every second).
      if (!this.#o.publisher.connected()) {
        return { ...report, ended: "systemic", error: describeError(new NotConnectedError()) };
      }
      const entries = await store.list();
      this.#forgetMissing(store, entries);
      for (const entry of entries) {
        if (this.#stopRequested) return { ...report, ended: "stopped" };
        if (opts.deadline !== undefined && this.#o.clock.monotonic() >= opts.deadline) {
          return { ...report, ended: "deadline" };
        }
        const key = failureKey(store, entry.name);
        const state = this.#failures.get(key);
        if (state && state.notBefore > this.#o.clock.monotonic()) {
          report.delayed++;
          continue;
        }
        const outcome = await this.#processClaimed(store, kind, entry.name, opts);
        switch (outcome?.kind) {
          case undefined: // being published by publishNow
            break;
          case "published":
            this.#failures.delete(key);
            report.published++;
            break;
          case "stuck":
            this.#failures.delete(key);
            report.stuck++;
            break;
          case "gone":
            this.#failures.delete(key);
            break;
          case "deadline":
            return { ...report, ended: "deadline" };
          case "failed":
            if (outcome.cls === "systemic") {
              // Passes come every second while the broker is away: say so once per cause.
              const level = outcome.error === this.#lastSystemic ? "debug" : "info";
              this.#lastSystemic = outcome.error;
              this.#o.log[level](
                { outbox: store.dir, file: entry.name, err: outcome.error },
                "outbox pass ended: broker unavailable",
              );
              return { ...report, ended: "systemic", error: outcome.error };
            }
            report.failed++;
            if (await this.#countFailure(store, entry.name, outcome.error)) report.stuck++;
            break;
        }
      }
    }
    this.#lastSystemic = undefined;
    return report;
  }

  /** Records a counted failure; moves the file to stuck/ at the limit. True when it moved. */
  async #countFailure(store: OutboxStore, name: string, error: string): Promise<boolean> {
    const key = failureKey(store, name);
    const failures = (this.#failures.get(key)?.failures ?? 0) + 1;
    if (failures >= this.#backoff.stuckAfter) {
      this.#failures.delete(key);
      await this.#moveToStuck(
        store,
        name,
        `${failures} consecutive publish failures; last: ${error}`,
      );
      return true;
    }
    const delay = Math.min(this.#backoff.capMs, this.#backoff.baseMs * 2 ** (failures - 1));
    this.#failures.set(key, { failures, notBefore: this.#o.clock.monotonic() + delay });
    this.#o.log.warn(
      { outbox: store.dir, file: name, failures, retry_in_ms: delay, err: error },
      "outbox file not accepted by the broker; retrying later",
    );
    return false;
  }

  async #moveToStuck(store: OutboxStore, name: string, reason: string): Promise<void> {
    try {
      await store.moveToStuck(name, reason);
    } catch (err) {
      this.#o.log.error(
        { outbox: store.dir, file: name, reason, err: describeError(err) },
        "could not move outbox file to stuck/",
      );
    }
  }

  #forgetMissing(store: OutboxStore, entries: readonly OutboxEntry[]): void {
    const prefix = `${store.dir}\0`;
    const present = new Set(entries.map((e) => failureKey(store, e.name)));
    for (const key of this.#failures.keys()) {
      if (key.startsWith(prefix) && !present.has(key)) this.#failures.delete(key);
    }
  }

  /** Publishes with `Nats-Msg-Id` and waits for the PubAck (rejects without one). */
  async #send(prepared: Prepared, timeoutMs: number): Promise<void> {
    const ack = await this.#o.publisher.publish(prepared.subject, prepared.data, {
      msgId: prepared.msgId,
      timeoutMs,
    });
    prepared.log.debug(
      { subject: prepared.subject, stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate },
      "result or event published",
    );
  }

  /** `#processFile` unless the file is already being processed (then undefined). */
  async #processClaimed(
    store: OutboxStore,
    kind: OutboxKind,
    name: string,
    opts: PassOptions,
  ): Promise<FileOutcome | undefined> {
    const key = failureKey(store, name);
    if (this.#busy.has(key)) return undefined;
    this.#busy.add(key);
    try {
      return await this.#processFile(store, kind, name, opts);
    } finally {
      this.#busy.delete(key);
    }
  }

  async #processFile(
    store: OutboxStore,
    kind: OutboxKind,
    name: string,
    opts: PassOptions,
  ): Promise<FileOutcome> {
    const log = this.#o.log.child({ outbox: store.dir, file: name });
    let raw: Buffer | undefined;
    try {
      raw = await store.read(name);
    } catch (err) {
      return {
        kind: "failed",
        cls: "counted",
        error: `cannot read the file: ${describeError(err)}`,
      };
    }
    if (raw === undefined) return { kind: "gone" };

    const timeoutMs = this.#timeout(opts);
    if (timeoutMs <= 0) return { kind: "deadline" };

    let prepared: Prepared | string;
    try {
      prepared =
        kind === "result"
          ? await this.#prepareResult(raw, log, timeoutMs)
          : prepareEvent(raw, log, this.#o.onPublished);
    } catch (err) {
      const cls = err instanceof SystemicUploadError ? "systemic" : classifyPublishError(err);
      return { kind: "failed", cls, error: describeError(err) };
    }
    if (typeof prepared === "string") {
      await this.#moveToStuck(store, name, prepared);
      return { kind: "stuck" };
    }

    try {
      await this.#send(prepared, this.#timeout(opts));
    } catch (err) {
      return { kind: "failed", cls: classifyPublishError(err), error: describeError(err) };
    }

    try {
      await prepared.published();
    } catch (err) {
      return {
        kind: "failed",
        cls: "counted",
        error: `published, but the follow-up failed (file kept): ${describeError(err)}`,
      };
    }
    try {
      await store.remove(name);
    } catch (err) {
      return {
        kind: "failed",
        cls: "counted",
        error: `published, but the file cannot be deleted: ${describeError(err)}`,
      };
    }
    return { kind: "published" };
  }

  async #prepareResult(raw: Buffer, log: Logger, timeoutMs: number): Promise<Prepared | string> {
    const parsed = parseOutboxFile(raw);
    if (typeof parsed === "string") return parsed;
    const decoded = decodeExecResult(parsed.payload);
    if (!decoded.ok) return `not an ExecResult: ${decoded.error.message}`;
    const result = decoded.value;
    const bad =
      idProblem("request_id", result.requestId, tokenProblem) ??
      idProblem("pc_id", result.pcId, dottedNameProblem);
    if (bad) return bad;

    const rlog = log.child({ request_id: result.requestId, result_id: result.resultId });
    const publisher = this.#o.publisher;
    const budget = payloadBudget(publisher.maxPayload());
    const fitted = await fitExecResult(
      result,
      sourcesFromFile(result, parsed.privateMembers),
      budget,
      {
        upload: (key, data, stream) => this.#upload(key, data, stream, rlog, timeoutMs),
      },
    );
    if (!fitted.fits) {
      throw new PayloadTooLargeError(
        `result is ${fitted.payload.length} bytes even with truncated output; budget ${budget}`,
      );
    }
    if (fitted.uploaded.length > 0 || fitted.truncated.length > 0) {
      rlog.info(
        {
          uploaded: fitted.uploaded,
          truncated: fitted.truncated,
          bytes: fitted.payload.length,
          budget,
        },
        "result output over the broker's max_payload",
      );
    }
    const hook = this.#o.onPublished;
    return {
      subject: resultSubject(result.requestId),
      data: fitted.payload,
      msgId: result.resultId || undefined,
      published: () => hook?.("result", result),
      log: rlog,
    };
  }

  /**
   * Uploads for fitting. A refusal (store full or gone, permissions) falls through to truncation;
   * a lost connection ends the pass, since the publish could not succeed either.
   */
  async #upload(
    key: string,
    data: Buffer,
    stream: StreamName,
    log: Logger,
    timeoutMs: number,
  ): Promise<boolean> {
    const publisher = this.#o.publisher;
    const store = await publisher.resultOutput();
    if (!store) return false;
    try {
      await store.put(key, data, timeoutMs);
      log.info({ key, bytes: data.length, stream }, "output uploaded to result_output");
      return true;
    } catch (err) {
      if (isTransportError(err)) {
        throw new SystemicUploadError(`upload of ${key} failed: ${describeError(err)}`, {
          cause: err,
        });
      }
      // Nobody stores the chunks: the store went away. Look for it again later.
      if (isNoResponders(err)) publisher.forgetResultOutput();
      log.warn(
        { key, stream, err: describeError(err) },
        "upload refused; output is truncated instead",
      );
      return false;
    }
  }

  #timeout(opts: PassOptions): number {
    if (opts.deadline === undefined) return this.#ackTimeoutMs;
    return Math.min(this.#ackTimeoutMs, opts.deadline - this.#o.clock.monotonic());
  }
}

function prepareEvent(
  raw: Buffer,
  log: Logger,
  hook: PublishedHook | undefined,
): Prepared | string {
  const parsed = parseOutboxFile(raw);
  if (typeof parsed === "string") return parsed;
  const decoded = decodeEventStarted(parsed.payload);
  if (!decoded.ok) return `not an EventStarted: ${decoded.error.message}`;
  const event = decoded.value;
  const bad =
    idProblem("exec_id", event.execId, tokenProblem) ??
    idProblem("pc_id", event.pcId, dottedNameProblem);
  if (bad) return bad;
  return {
    subject: eventStartedSubject(event.execId, event.pcId),
    data: Buffer.from(JSON.stringify(encodeEventStarted(event)), "utf8"),
    msgId: event.resultId || undefined,
    published: () => hook?.("event", event),
    log: log.child({ request_id: event.requestId, result_id: event.resultId }),
  };
}

function idProblem(
  field: string,
  value: string,
  check: (v: string) => string | null,
): string | undefined {
  const problem = check(value);
  return problem === null ? undefined : `${field} ${JSON.stringify(value)} ${problem}`;
}

const failureKey = (store: OutboxStore, name: string): string => `${store.dir}\0${name}`;
