// behavior.md 15.7: hold new runs, let running children finish (bounded), then record the new
// release as current and pending. The caller then stops gracefully and exits 64.

import { stat } from "node:fs/promises";
import type { Logger } from "../logging/logger.js";
import type { Clock } from "../time/clock.js";
import type { ReleaseState } from "../wire/types.js";
import { armRelease } from "./sentinel.js";
import { releaseDir, type StagingLayout } from "./stagingLayout.js";
import { readReleaseState, writeReleaseState } from "./stateFile.js";

/** What the swap needs from the command side of the daemon. */
export interface CommandGate {
  /** Stop launching new runs: new commands stay `admitted` and resume after the restart. */
  holdLaunches(): void;
  /** Undo `holdLaunches` when a swap is abandoned. */
  resumeLaunches(): void;
  /** How many children run now. */
  runningCommands(): number;
}

/** behavior.md §0: wait for running children before an update restart, at most 10 min. */
export const SWAP_WAIT_MS = 10 * 60_000;
const POLL_MS = 250;
const REPORT_EVERY_MS = 60_000;

export interface SwapOptions {
  staging: StagingLayout;
  gate: CommandGate;
  version: string;
  clock: Clock;
  log: Logger;
  maxWaitMs?: number;
  signal?: AbortSignal;
}

/**
 * Holds launches, waits until no child runs (at most `maxWaitMs`; the graceful stop then ends the
 * rest), writes state.json with `version` current and pending, and returns that state. Launches
 * are resumed if it fails or is aborted before the write.
 */
export async function swapToRelease(o: SwapOptions): Promise<ReleaseState> {
  const { gate, log, clock, version } = o;
  const maxWait = o.maxWaitMs ?? SWAP_WAIT_MS;
  gate.holdLaunches();
  try {
    const started = clock.monotonic();
    let reportedAt = Number.NEGATIVE_INFINITY;
    for (;;) {
      o.signal?.throwIfAborted();
      const running = gate.runningCommands();
      if (running === 0) break;
      const now = clock.monotonic();
      if (now - started >= maxWait) {
        log.warn(
          { version, running, waited_ms: Math.round(now - started) },
          "commands still running after the swap wait; the restart stops them",
        );
        break;
      }
      if (now - reportedAt >= REPORT_EVERY_MS) {
        reportedAt = now;
        log.info({ version, running }, "release staged; waiting for running commands to finish");
      }
      await pause(POLL_MS, o.signal);
    }
    const s = await stat(releaseDir(o.staging, version)).catch(() => null);
    if (!s?.isDirectory()) throw new Error(`staged release folder for ${version} is gone`);
    const read = await readReleaseState(o.staging);
    if (read.problem !== null)
      log.warn({ problem: read.problem }, "state.json unusable; rewriting it");
    const next = armRelease(read.state, version, clock.now());
    o.signal?.throwIfAborted();
    await writeReleaseState(o.staging, next);
    return next;
  } catch (err) {
    gate.resumeLaunches();
    throw err;
  }
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
