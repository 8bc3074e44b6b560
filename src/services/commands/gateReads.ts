// The KV reads of the version-pin and revoke gates (behavior.md 5.5, 5.6, 5.8), shared where
// sharing cannot change a verdict: a read answers a command only if it started after that command
// arrived (so it sees every KV write the backend made before publishing it) or was started for
// that very command, and only while it is fresh. A burst of commands for one manifest then costs
// a handful of reads instead of two per command, and a command's reads overlap its admission.

import type { Clock } from "../time/clock.js";
import type { Command, EpochMs } from "../wire/types.js";

export type GateBucket = "script_current" | "script_status";

/** A command asking for a gate read: who, and since when a read counts as made after it. */
export interface GateAsker {
  requestId: string;
  receivedAt: EpochMs;
}

/** One KV read: the value of a PUT, or null (absent, tombstone, error, timeout). */
export type KvRead = (bucket: GateBucket, key: string) => Promise<string | null>;

/** A read shared within this long of its start (a queued command is judged on fresh values). */
export const GATE_READ_FRESH_MS = 250;

interface Entry {
  startedAt: EpochMs;
  askers: Set<string>;
  value: Promise<string | null>;
}

export class GateReads {
  readonly #entries = new Map<string, Entry>();

  constructor(
    private readonly read: KvRead,
    private readonly clock: Pick<Clock, "now">,
    private readonly freshMs = GATE_READ_FRESH_MS,
  ) {}

  /**
   * Starts a command's gate reads ahead of its judgement, unless a fresh read of the same key is
   * already out. A flood of commands arrives within a few milliseconds, each after the read its
   * predecessor started, so none could use another's prefetch: it cost two reads per command.
   * Skipped, the next read made when one of them is judged serves all that arrived before it.
   */
  prefetch(command: Command, asker: GateAsker): void {
    for (const bucket of ["script_current", "script_status"] as const) {
      const e = this.#entries.get(entryId(bucket, command.id));
      if (!e || this.clock.now() - e.startedAt > this.freshMs)
        void this.get(bucket, command.id, asker);
    }
  }

  /** The value for `asker`: a shared read when one qualifies, else a new one. */
  get(bucket: GateBucket, key: string, asker: GateAsker): Promise<string | null> {
    const id = entryId(bucket, key);
    const now = this.clock.now();
    const e = this.#entries.get(id);
    if (
      e &&
      now - e.startedAt <= this.freshMs &&
      (e.askers.has(asker.requestId) || e.startedAt > asker.receivedAt)
    ) {
      e.askers.add(asker.requestId);
      return e.value;
    }
    const entry: Entry = {
      startedAt: now,
      askers: new Set([asker.requestId]),
      value: this.read(bucket, key).catch(() => null),
    };
    this.#entries.set(id, entry);
    // Forget it once stale, so the map holds only the manifests of the last moments.
    setTimeout(() => {
      if (this.#entries.get(id) === entry) this.#entries.delete(id);
    }, this.freshMs + 1).unref();
    return entry.value;
  }
}

const entryId = (bucket: GateBucket, key: string) => `${bucket}\0${key}`;
