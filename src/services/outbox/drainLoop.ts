import type { Observable } from "rxjs";
import type { Logger } from "../logging/logger.js";
import type { Clock, Random } from "../time/clock.js";
import { within } from "../time/within.js";
import type { PassOptions, PassReport } from "./drainer.js";
import { describeError } from "./failures.js";

/** Pause between the end of a pass and the next one (behavior.md 8.2). */
export const DRAIN_INTERVAL_MS = 1_000;
/** A pass starts uniformly 0–2 s after each connect or reconnect (behavior.md 8.2). */
export const DRAIN_CONNECT_JITTER_MS = 2_000;

export interface Drainable {
  runPass(opts?: PassOptions): Promise<PassReport>;
  requestStop(): void;
}

export interface DrainLoopOptions {
  drainer: Drainable;
  /** Emits on every connect and reconnect (`NatsLink.woken$`). Nothing runs before the first. */
  wake$: Observable<unknown>;
  clock: Clock;
  random: Random;
  log: Logger;
  intervalMs?: number;
  connectJitterMs?: number;
}

export interface DrainLoop {
  /** Schedules nothing more; resolves when the pass in progress (asked to stop) has ended. */
  stop(): Promise<void>;
  /**
   * Shutdown (behavior.md 18.2): stops the loop, then one pass that ends by `deadline`
   * (`clock.monotonic()` time). Resolves by the deadline, with the pass report if it finished.
   */
  drainOnce(deadline: number): Promise<PassReport | undefined>;
}

/** The drain loop: a pass 0–2 s after each (re)connect, then 1 s after the previous one ended. */
export function startDrainLoop(opts: DrainLoopOptions): DrainLoop {
  const interval = opts.intervalMs ?? DRAIN_INTERVAL_MS;
  const jitter = opts.connectJitterMs ?? DRAIN_CONNECT_JITTER_MS;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let wokenDuringPass = false;

  const schedule = (delayMs: number): void => {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(runOne, Math.max(0, delayMs));
  };
  const jittered = (): number => Math.floor(opts.random() * jitter);

  function runOne(): void {
    timer = undefined;
    if (stopped || running) return;
    wokenDuringPass = false;
    running = opts.drainer
      .runPass()
      .then(
        (report) => {
          if (report.published > 0 || report.stuck > 0) {
            opts.log.debug({ ...report }, "outbox pass done");
          }
        },
        (err: unknown) => {
          opts.log.error({ err: describeError(err) }, "outbox pass failed");
        },
      )
      .finally(() => {
        running = undefined;
        schedule(wokenDuringPass ? jittered() : interval);
      });
  }

  const sub = opts.wake$.subscribe(() => {
    if (stopped) return;
    if (running) wokenDuringPass = true;
    else schedule(jittered());
  });

  const stop = async (): Promise<void> => {
    stopped = true;
    sub.unsubscribe();
    clearTimeout(timer);
    timer = undefined;
    if (running) {
      opts.drainer.requestStop();
      await running;
    }
  };

  return {
    stop,
    async drainOnce(deadline) {
      const left = () => deadline - opts.clock.monotonic();
      if (!(await within(stop(), left()))) return undefined;
      if (left() <= 0) return undefined;
      const pass = opts.drainer.runPass({ deadline });
      const done = await within(pass, left());
      if (!done) return undefined;
      return pass.catch((err: unknown) => {
        opts.log.error({ err: describeError(err) }, "final outbox pass failed");
        return undefined;
      });
    },
  };
}
