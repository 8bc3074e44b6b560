import type { Observable } from "rxjs";
import type { Logger } from "../logging/logger.js";
import type { Random } from "../time/clock.js";

export interface RetryOptions {
  /** What is being waited for, for the log (`stream EXEC`). */
  what: string;
  log: Logger;
  random: Random;
  /** Emits on every (re)connect: a sleeping loop tries again at once (behavior.md 3.4). */
  wake$?: Observable<void>;
  signal?: AbortSignal;
  /** Warnings: the first failure, then at most once per this many ms (default 5 min). */
  warnEveryMs?: number;
  /** Sleep; injectable for tests. */
  sleep?: (ms: number, wake$: Observable<void> | undefined, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
}

/** behavior.md 3.3: min(2^(n−1), 300) s after the n-th consecutive failure, ±25 % jitter. */
export function backoffMs(failures: number, random: Random): number {
  const base = Math.min(2 ** Math.max(0, failures - 1), 300) * 1000;
  return Math.round(base * (0.75 + random() * 0.5));
}

/**
 * Runs `attempt` until it succeeds, forever (behavior.md §3). A missing resource and a network
 * error are treated alike. Rejects only when `signal` aborts.
 */
export async function retryForever<T>(attempt: () => Promise<T>, opts: RetryOptions): Promise<T> {
  const sleep = opts.sleep ?? wakeableSleep;
  const now = opts.now ?? Date.now;
  const warnEvery = opts.warnEveryMs ?? 5 * 60_000;
  let failures = 0;
  let lastWarn = Number.NEGATIVE_INFINITY;
  for (;;) {
    opts.signal?.throwIfAborted();
    try {
      const value = await attempt();
      if (failures > 0)
        opts.log.info({ what: opts.what, failures }, `${opts.what}: available again`);
      return value;
    } catch (err) {
      opts.signal?.throwIfAborted();
      failures++;
      const delay = backoffMs(failures, opts.random);
      if (now() - lastWarn >= warnEvery) {
        lastWarn = now();
        opts.log.warn(
          { what: opts.what, err: errorText(err), failures, retry_in_ms: delay },
          `${opts.what}: not available, retrying`,
        );
      }
      await sleep(delay, opts.wake$, opts.signal);
    }
  }
}

/** Sleeps `ms`, or less if `wake$` emits or `signal` aborts. Never rejects. */
export function wakeableSleep(
  ms: number,
  wake$?: Observable<void>,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      sub?.unsubscribe();
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    const sub = wake$?.subscribe(done);
    signal?.addEventListener("abort", done, { once: true });
  });
}

export const errorText = (err: unknown): string =>
  err instanceof Error ? err.message : String(err);
