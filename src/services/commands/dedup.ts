// The admission point of the command pipeline (design.md "One pipeline for commands"): live and
// replayed messages merge into one stream and pass this operator, backed by the ledger.

import { Observable, type OperatorFunction } from "rxjs";
import type { AdmitInput, Ledger } from "./ledger.js";

export type GateOutcome = "admitted" | "duplicate";

/** Decides once per item. Must answer `duplicate` for an item whose key it has admitted. */
export interface DedupGate<T> {
  admit(item: T): Promise<GateOutcome>;
}

export interface DedupOptions<T> {
  /** Admission decisions in flight at once. Default 32. */
  concurrency?: number;
  /**
   * Items held by the operator (deciding, waiting for a decision slot, or decided but behind an
   * earlier item). At the cap a new item is refused through `onError` with a
   * `DedupOverflowError`: not admitted, like a failed ledger write (a replay message stays
   * unacked and comes back). Default 10 000.
   */
  maxPending?: number;
  /**
   * The item was not admitted because the gate failed (or threw, or the operator was full). The
   * stream goes on. Required: dropping a command must reach the log.
   */
  onError: (err: unknown, item: T) => void;
  /** The gate answered `duplicate` (replay: ack it). */
  onDuplicate?: (item: T) => void;
}

export const DEFAULT_DEDUP_CONCURRENCY = 32;
export const DEFAULT_DEDUP_MAX_PENDING = 10_000;

export class DedupOverflowError extends Error {
  constructor(readonly maxPending: number) {
    super(`dedup: ${maxPending} items already pending, item refused`);
    this.name = "DedupOverflowError";
  }
}

const WAITING = 0;
const DECIDING = 1;
const ADMITTED = 2;
const DUPLICATE = 3;
const FAILED = 4;
type Status = typeof WAITING | typeof DECIDING | typeof ADMITTED | typeof DUPLICATE | typeof FAILED;

interface Entry<T> {
  item: T;
  status: Status;
  error: unknown;
  next: Entry<T> | undefined;
}

/**
 * Emits the items `gate` admits, in arrival order, deciding up to `concurrency` items at once.
 * A failing decision drops that item (reported to `onError`) and the stream goes on. When the
 * source ends, items already being decided are still decided and emitted before the
 * completion (or error) is passed on: an admitted record must reach its consumer. Unsubscribing
 * abandons them; the ledger keeps them for recovery (§6.6).
 */
export function dedupBy<T>(gate: DedupGate<T>, opts: DedupOptions<T>): OperatorFunction<T, T> {
  const concurrency = opts.concurrency ?? DEFAULT_DEDUP_CONCURRENCY;
  const maxPending = opts.maxPending ?? DEFAULT_DEDUP_MAX_PENDING;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`dedup: concurrency must be an integer ≥ 1, got ${concurrency}`);
  }
  if (!Number.isSafeInteger(maxPending) || maxPending < 1) {
    throw new RangeError(`dedup: maxPending must be an integer ≥ 1, got ${maxPending}`);
  }
  const { onError, onDuplicate } = opts;

  return (source) =>
    new Observable<T>((subscriber) => {
      // A singly linked FIFO: O(1) append, pop and "next to start" without array shifting.
      let head: Entry<T> | undefined;
      let tail: Entry<T> | undefined;
      let nextToStart: Entry<T> | undefined;
      let pending = 0;
      let deciding = 0;
      let active = true;
      let ended: { error: unknown; failed: boolean } | undefined;

      const settle = (e: Entry<T>, status: Status, error?: unknown): void => {
        e.status = status;
        e.error = error;
        deciding--;
        if (!active) return;
        flush();
        pump();
      };

      const start = (e: Entry<T>): void => {
        e.status = DECIDING;
        deciding++;
        let decision: Promise<GateOutcome>;
        try {
          decision = gate.admit(e.item);
        } catch (err) {
          decision = Promise.reject(err);
        }
        decision.then(
          (outcome) => {
            if (outcome === "admitted") settle(e, ADMITTED);
            else if (outcome === "duplicate") settle(e, DUPLICATE);
            else settle(e, FAILED, new Error(`dedup: gate answered ${String(outcome)}`));
          },
          (err: unknown) => settle(e, FAILED, err),
        );
      };

      const pump = (): void => {
        while (active && deciding < concurrency && nextToStart) {
          const e = nextToStart;
          nextToStart = e.next;
          start(e);
        }
      };

      const flush = (): void => {
        while (active && head && head.status >= ADMITTED) {
          const e = head;
          head = e.next;
          if (!head) tail = undefined;
          pending--;
          if (e.status === ADMITTED) subscriber.next(e.item);
          else if (e.status === DUPLICATE) callback(onDuplicate, e.item);
          else callback(onError, e.error, e.item);
        }
        if (active && ended && !head) {
          if (ended.failed) subscriber.error(ended.error);
          else subscriber.complete();
        }
      };

      const sub = source.subscribe({
        next: (item) => {
          if (pending >= maxPending) {
            callback(onError, new DedupOverflowError(maxPending), item);
            return;
          }
          const e: Entry<T> = { item, status: WAITING, error: undefined, next: undefined };
          if (tail) tail.next = e;
          else head = e;
          tail = e;
          nextToStart ??= e;
          pending++;
          pump();
        },
        error: (error: unknown) => {
          ended = { error, failed: true };
          flush();
        },
        complete: () => {
          ended = { error: undefined, failed: false };
          flush();
        },
      });

      return () => {
        active = false;
        sub.unsubscribe();
        head = tail = nextToStart = undefined;
      };
    });
}

/** Adapts the ledger to `dedupBy`; the ledger logs duplicates and conflicts itself (§6.4). */
export function ledgerGate<T>(
  ledger: Pick<Ledger, "admit">,
  toInput: (item: T) => AdmitInput,
): DedupGate<T> {
  return {
    admit: async (item) => (await ledger.admit(toInput(item))).outcome,
  };
}

function callback<A extends unknown[]>(fn: ((...args: A) => void) | undefined, ...args: A): void {
  if (!fn) return;
  try {
    fn(...args);
  } catch (err) {
    // A throwing callback is a bug in the caller; the queue must keep moving, so it is reported
    // the way RxJS reports errors nobody handles.
    setTimeout(() => {
      throw err;
    });
  }
}
