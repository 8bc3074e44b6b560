// Schedule, the value of a `schedules` key: the subset of wire.md §5.3 the agent reads.
import { z } from "zod";
import { type Decoded, fail } from "./decoded.js";
import {
  bool,
  decodeWith,
  defaulted,
  hasMember,
  isPlainObject,
  omittedWhenEmpty,
  putIfPresent,
  str,
} from "./schema.js";
import type { Schedule } from "./types.js";

export const SCHEDULE_MODES = ["every_tick", "once_per_pc", "once_per_target"] as const;
export const RUNS_ON = ["backend", "agent"] as const;

/** 6 fields with seconds, optional 7th (year); the field syntax itself is the scheduler's. */
const cron = z.string().superRefine((text, ctx) => {
  const fields = text.trim() === "" ? 0 : text.trim().split(/\s+/).length;
  if (fields === 6 || fields === 7) return;
  ctx.addIssue({
    code: "custom",
    input: text,
    message: `expected 6 or 7 fields (seconds first, optional year), got ${fields}`,
  });
});

const wireTarget = z.object({
  all: defaulted(bool, false),
  pcs: defaulted(z.array(str), []),
  groups: defaulted(z.array(str), []),
});

const wireSchedule = z.object({
  id: str,
  cron,
  job_id: str,
  target: defaulted(wireTarget, { all: false, pcs: [], groups: [] }),
  jitter: omittedWhenEmpty(str),
  mode: defaulted(z.enum(SCHEDULE_MODES), "every_tick"),
  cooldown: omittedWhenEmpty(str),
  runs_on: defaulted(z.enum(RUNS_ON), "backend"),
  enabled: defaulted(bool, true),
});

export function decodeSchedule(value: unknown): Decoded<Schedule> {
  if (isPlainObject(value) && !hasMember(value, "cron") && hasMember(value, "when")) {
    return fail("cron", "is required (schedules using 'when' are not supported by this agent)");
  }
  const decoded = decodeWith(wireSchedule, value);
  if (!decoded.ok) return decoded;
  const w = decoded.value;
  const schedule: Schedule = {
    id: w.id,
    cron: w.cron,
    jobId: w.job_id,
    target: { all: w.target.all, pcs: w.target.pcs, groups: w.target.groups },
    mode: w.mode,
    runsOn: w.runs_on,
    enabled: w.enabled,
  };
  if (w.jitter !== undefined) schedule.jitter = w.jitter;
  if (w.cooldown !== undefined) schedule.cooldown = w.cooldown;
  return { ok: true, value: schedule };
}

export function encodeSchedule(s: Schedule): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: s.id,
    cron: s.cron,
    job_id: s.jobId,
    target: { all: s.target.all, pcs: [...s.target.pcs], groups: [...s.target.groups] },
  };
  putIfPresent(out, "jitter", s.jitter);
  out.mode = s.mode;
  putIfPresent(out, "cooldown", s.cooldown);
  out.runs_on = s.runsOn;
  out.enabled = s.enabled;
  return out;
}
