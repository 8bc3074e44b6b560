// The decisions of behavior.md 16.4 and 16.6: whether a due tick fires, and which finished
// runs count as completions. Pure; the clock is the caller's.
import { parseDuration } from "../wire/duration.js";
import { completionKey } from "../wire/localCompletions.js";
import { formatTimestamp } from "../wire/timestamp.js";
import type { LocalCompletions, Manifest, Schedule, ScheduleMode } from "../wire/types.js";

/** Most completions kept; beyond it the oldest are forgotten (their schedules may fire again). */
export const MAX_COMPLETIONS = 10_000;

export type FireDecision = { fire: true; manifest: Manifest } | { fire: false; reason: string };

export interface FireState {
  /** Cached manifests by `jobs` key. */
  jobs: ReadonlyMap<string, Manifest>;
  /** Keys of the schedules whose previous fire has not finished. */
  inFlight: ReadonlySet<string>;
  completions: LocalCompletions;
  now: number;
}

/** behavior.md 16.4, for a tick of the schedule stored under `key` that is due now. */
export function decideFire(key: string, schedule: Schedule, state: FireState): FireDecision {
  const manifest = state.jobs.get(schedule.jobId);
  if (manifest === undefined) return { fire: false, reason: `job ${schedule.jobId} is not cached` };
  if (state.inFlight.has(key)) return { fire: false, reason: "its previous run has not finished" };
  const blocked = onceModeBlocks(schedule, state.completions, state.now);
  if (blocked !== null) return { fire: false, reason: blocked };
  return { fire: true, manifest };
}

/**
 * `once_per_pc` / `once_per_target` (both per PC locally): why the tick must not fire, or null.
 * Without a usable `cooldown` a recorded completion blocks for good; an unparseable cooldown is
 * treated as none, the conservative reading for a "run once" schedule.
 */
export function onceModeBlocks(
  schedule: Schedule,
  completions: LocalCompletions,
  now: number,
): string | null {
  if (schedule.mode === "every_tick") return null;
  const at = completions.get(completionKey(schedule.id, schedule.jobId));
  if (at === undefined) return null;
  const done = `${schedule.mode}: completed at ${formatTimestamp(at)}`;
  if (schedule.cooldown === undefined) return `${done}, no cooldown`;
  const cooldownMs = parseDuration(schedule.cooldown);
  if (cooldownMs === null) return `${done}, cooldown "${schedule.cooldown}" is not a duration`;
  if (now - at >= cooldownMs) return null;
  return `${done}, cooldown ${schedule.cooldown} not over`;
}

/**
 * behavior.md 16.6: only exit code 0 is a completion; synthetic codes (120–127) and kills (-1)
 * are not. `every_tick` schedules never read completions, so theirs are not recorded.
 */
export const countsAsCompletion = (mode: ScheduleMode, exitCode: number): boolean =>
  exitCode === 0 && mode !== "every_tick";

/** A copy of `completions` with `key` set to `at`, bounded by `max` (oldest dropped). */
export function recordCompletion(
  completions: LocalCompletions,
  key: string,
  at: number,
  max = MAX_COMPLETIONS,
): LocalCompletions {
  const next = new Map(completions);
  next.delete(key);
  next.set(key, at);
  if (next.size <= max) return next;
  const oldestFirst = [...next].sort((a, b) => a[1] - b[1]);
  for (const [k] of oldestFirst.slice(0, next.size - max)) next.delete(k);
  return next;
}
