import { within } from "../time/within.js";

/**
 * The result hand-overs in flight: a result the ledger holds being published, then let go of
 * (wiring/commands.ts). The stop sequence waits for them before the ledger closes: a result the
 * broker took but whose release never reached the disk would go out again after the next start,
 * a duplicate once the stream's duplicate window has passed.
 */
export class HandOvers {
  readonly #pending = new Set<Promise<void>>();

  track(handOver: Promise<void>): void {
    this.#pending.add(handOver);
    const forget = () => this.#pending.delete(handOver);
    handOver.then(forget, forget);
  }

  get size(): number {
    return this.#pending.size;
  }

  /** Whether every hand-over started so far ended within `ms`. */
  settled(ms: number): Promise<boolean> {
    return this.#pending.size === 0
      ? Promise.resolve(true)
      : within(Promise.allSettled(this.#pending), ms);
  }
}
