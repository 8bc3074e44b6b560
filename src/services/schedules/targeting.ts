import type { Schedule } from "../wire/types.js";

/**
 * behavior.md 16.2: a schedule is this agent's when it runs on the agent, is enabled, and targets
 * everyone, this pc_id, or one of this PC's groups.
 */
export function isScheduleForMe(
  schedule: Schedule,
  pcId: string,
  membership: readonly string[],
): boolean {
  if (schedule.runsOn !== "agent" || !schedule.enabled) return false;
  const t = schedule.target;
  return t.all || t.pcs.includes(pcId) || t.groups.some((g) => membership.includes(g));
}
