// behavior.md 15.10: a freshly updated release proves its health (connected, subscribed, one
// heartbeat published) within a deadline, or rolls itself back and asks for a restart.

import type { Observable, Subscription } from "rxjs";
import type { Logger } from "../logging/logger.js";
import type { Clock } from "../time/clock.js";
import type { ReleaseState } from "../wire/types.js";
import { confirmRelease, isPending, rollBack } from "./sentinel.js";
import type { StagingLayout } from "./stagingLayout.js";
import { readReleaseState, writeReleaseState } from "./stateFile.js";

/** behavior.md §0: health confirmation window. */
export const CONFIRM_DEADLINE_MS = 60_000;
/** Test knob for the window; production leaves it unset. */
export const CONFIRM_DEADLINE_ENV_VAR = "KANADE_AGENT_CONFIRM_DEADLINE_MS";
/** The exit code that makes the supervisor restart the agent (behavior.md 1.1). */
export const EXIT_RESTART = 64;

/** The window from `$KANADE_AGENT_CONFIRM_DEADLINE_MS` (100 ms – 1 h), else 60 s. */
export function confirmDeadlineFromEnv(env: NodeJS.ProcessEnv): number {
  const raw = env[CONFIRM_DEADLINE_ENV_VAR];
  const n = raw === undefined || raw === "" ? Number.NaN : Number(raw);
  return Number.isInteger(n) && n >= 100 && n <= 3_600_000 ? n : CONFIRM_DEADLINE_MS;
}

export interface ReleaseHealthOptions {
  staging: StagingLayout;
  /** The version of the code running now. */
  agentVersion: string;
  clock: Clock;
  log: Logger;
  deadlineMs?: number;
}

export interface HealthWatchOptions {
  /** Emits when a server was reached (a successful connect; `link.woken$`). */
  serverReached$: Observable<unknown>;
  /** Runs the graceful stop and exits with `code` (64). */
  requestRestart: (code: typeof EXIT_RESTART) => void;
}

/**
 * The running release's view of `staging/state.json`: its quarantine list (for the heartbeat), and,
 * when it runs unconfirmed, the confirmation deadline. The window counts from the first time a
 * server was reached in this run, so a broker that is down at start never rolls back a good
 * release; once a server was reached, the window passing unconfirmed rolls back (15.11).
 */
export class ReleaseHealth {
  #state: ReleaseState;
  #unconfirmed: boolean;
  #timer: NodeJS.Timeout | undefined;
  #reachedSub: Subscription | undefined;
  #reached = false;
  #settling: Promise<unknown> = Promise.resolve();
  #requestRestart: HealthWatchOptions["requestRestart"] | undefined;
  readonly #deadlineMs: number;

  private constructor(
    private readonly o: ReleaseHealthOptions,
    state: ReleaseState,
  ) {
    this.#state = state;
    this.#unconfirmed = isPending(state, o.agentVersion);
    this.#deadlineMs = o.deadlineMs ?? CONFIRM_DEADLINE_MS;
  }

  /** Reads state.json once (a damaged file reads as empty and is logged). */
  static async open(o: ReleaseHealthOptions): Promise<ReleaseHealth> {
    const read = await readReleaseState(o.staging);
    if (read.problem !== null)
      o.log.error({ problem: read.problem }, "release state unusable; treated as empty");
    return new ReleaseHealth(o, read.state);
  }

  /** Versions the boot sentinel rolled back, sorted (Heartbeat `quarantined_versions`). */
  quarantined(): readonly string[] {
    return this.#state.quarantined;
  }

  /** Whether this run is a fresh release that has not yet confirmed its health. */
  get unconfirmed(): boolean {
    return this.#unconfirmed;
  }

  /** Starts the deadline when this run is unconfirmed; a no-op otherwise. Call once. */
  watch(w: HealthWatchOptions): void {
    if (!this.#unconfirmed || this.#reachedSub) return;
    this.#requestRestart = w.requestRestart;
    this.o.log.info(
      { version: this.o.agentVersion, deadline_ms: this.#deadlineMs },
      "running a fresh release; waiting for it to prove its health",
    );
    this.#reachedSub = w.serverReached$.subscribe(() => this.noteServerReached());
  }

  /**
   * A server was reached (TCP or handshake succeeded, even if the connect then failed): the
   * deadline starts now if it has not yet.
   */
  noteServerReached(): void {
    if (!this.#unconfirmed || this.#reached || !this.#requestRestart) return;
    this.#reached = true;
    this.#timer = setTimeout(() => void this.#expire(), this.#deadlineMs);
    this.#timer.unref();
  }

  /**
   * behavior.md 15.10: connected, subscribed to the command subjects and a heartbeat published.
   * Clears `pending` and persists; idempotent. Resolves true when this call confirmed.
   */
  confirm(): Promise<boolean> {
    const run = this.#settling.then(async () => {
      if (!this.#unconfirmed) return false;
      this.#stopTimer();
      const read = await readReleaseState(this.o.staging);
      const next = confirmRelease(read.state, this.o.agentVersion);
      if (next !== read.state) await writeReleaseState(this.o.staging, next);
      this.#state = next;
      this.#unconfirmed = false;
      this.o.log.info({ version: this.o.agentVersion }, "release confirmed healthy");
      return true;
    });
    this.#settling = run.catch(() => {});
    return run;
  }

  /** Stops the deadline (graceful stop); the next start counts as one more unconfirmed boot. */
  stop(): void {
    this.#stopTimer();
  }

  async #expire(): Promise<void> {
    const run = this.#settling.then(async () => {
      if (!this.#unconfirmed) return;
      const version = this.o.agentVersion;
      const read = await readReleaseState(this.o.staging);
      if (!isPending(read.state, version)) {
        this.#unconfirmed = false;
        return;
      }
      const next = rollBack(read.state);
      await writeReleaseState(this.o.staging, next);
      this.#state = next;
      this.#unconfirmed = false;
      this.o.log.error(
        { version, rolled_back_to: next.current ?? "base install", deadline_ms: this.#deadlineMs },
        "release did not confirm its health in time; rolled back and quarantined",
      );
      this.#requestRestart?.(EXIT_RESTART);
    });
    this.#settling = run.catch((err: unknown) =>
      this.o.log.error(
        { version: this.o.agentVersion, err: (err as Error).message },
        "could not roll back the unconfirmed release; the boot count will",
      ),
    );
    await this.#settling;
  }

  #stopTimer(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#reachedSub?.unsubscribe();
  }
}
