// When each of this agent's schedules fires next. Plans are instants on the wall clock; the
// timer that waits for them is capped so that a wall-clock jump is noticed within a minute.
import type { Schedule } from "../wire/types.js";
import type { ScheduleEntry } from "./mirror.js";

export interface Plan {
  /** Next fire instant, epoch ms. */
  at: number;
  /** The cron text the plan was made from; a changed cron is planned afresh. */
  cron: string;
}

export type Plans = ReadonlyMap<string, Plan>;

/** Longest single wait of the tick timer. */
export const MAX_TICK_WAIT_MS = 60_000;
/** A tick found later than this (suspended machine, clock jumped forward) counts as missed. */
export const MAX_TICK_LATENESS_MS = 60_000;

/**
 * Plans for the entries `isMine` accepts. With `keep`, a schedule whose cron is unchanged keeps
 * its planned instant, so an unrelated change arriving just after a tick was due does not skip
 * it; without, everything is planned from `now` (missed ticks are never caught up).
 */
export function planSchedules(
  entries: ReadonlyMap<string, ScheduleEntry>,
  isMine: (s: Schedule) => boolean,
  now: number,
  keep?: Plans,
): Map<string, Plan> {
  const plans = new Map<string, Plan>();
  for (const [key, entry] of entries) {
    if (!isMine(entry.schedule)) continue;
    const previous = keep?.get(key);
    if (previous !== undefined && previous.cron === entry.schedule.cron) {
      plans.set(key, previous);
      continue;
    }
    const at = entry.cron.nextAfter(now);
    if (at !== null) plans.set(key, { at, cron: entry.schedule.cron });
  }
  return plans;
}

/** Keys whose planned instant has come. */
export function dueKeys(plans: Plans, now: number): string[] {
  const due: string[] = [];
  for (const [key, plan] of plans) if (plan.at <= now) due.push(key);
  return due;
}

/** How long the tick timer waits: until the earliest plan, at most MAX_TICK_WAIT_MS. */
export function tickWaitMs(plans: Plans, now: number): number {
  let earliest = Number.POSITIVE_INFINITY;
  for (const plan of plans.values()) earliest = Math.min(earliest, plan.at);
  return Math.max(0, Math.min(earliest - now, MAX_TICK_WAIT_MS));
}
