// The one place collections start: a scheduled collection and on-demand requests share a
// collection in progress instead of running a second one (behavior.md 14.5), and requests are
// answered from the latest collection while it is recent enough.
import type { Clock } from "../time/clock.js";
import type { HwInventory } from "../wire/types.js";
import type { PreparedInventory } from "./fit.js";

/** On-demand requests reuse a collection younger than this. */
export const INVENTORY_CACHE_MAX_AGE_MS = 5 * 60_000;

export interface Collection extends PreparedInventory {
  /** `clock.monotonic()` when the collection ended. */
  at: number;
}

export interface InventorySourceOptions {
  collect: () => Promise<HwInventory>;
  /** Fits and serializes a fresh inventory (the budget comes from the live connection). */
  prepare: (inv: HwInventory) => PreparedInventory;
  clock: Clock;
}

export class InventorySource {
  readonly #opts: InventorySourceOptions;
  #inFlight: Promise<Collection> | null = null;
  #latest: Collection | null = null;

  constructor(opts: InventorySourceOptions) {
    this.#opts = opts;
  }

  get collecting(): boolean {
    return this.#inFlight !== null;
  }

  get latest(): Collection | null {
    return this.#latest;
  }

  /** Starts a collection, or joins the one in progress. */
  collect(): Promise<Collection> {
    if (this.#inFlight !== null) return this.#inFlight;
    // Started on a later tick, so that `#inFlight` is set before anything can clear it.
    const run = Promise.resolve()
      .then(() => this.#opts.collect())
      .then((inv) => {
        const collection: Collection = {
          ...this.#opts.prepare(inv),
          at: this.#opts.clock.monotonic(),
        };
        this.#latest = collection;
        return collection;
      })
      .finally(() => {
        this.#inFlight = null;
      });
    this.#inFlight = run;
    return run;
  }

  /** The latest collection if younger than `maxAgeMs`, else a fresh (or the running) one. */
  current(maxAgeMs = INVENTORY_CACHE_MAX_AGE_MS): Promise<Collection> {
    const latest = this.#latest;
    if (latest !== null && this.#opts.clock.monotonic() - latest.at < maxAgeMs) {
      return Promise.resolve(latest);
    }
    return this.collect();
  }
}
