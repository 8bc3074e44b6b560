// The agent's copy of KV `schedules` and `jobs` (behavior.md 16.1): only what it can use — the
// `runs_on: agent` schedules with a parseable cron, and every well-formed manifest.
import type { Logger } from "../logging/logger.js";
import { parseJson } from "../wire/json.js";
import { decodeManifest, encodeManifest } from "../wire/manifest.js";
import { decodeSchedule, encodeSchedule } from "../wire/schedule.js";
import type { Manifest, Schedule } from "../wire/types.js";
import { type CronSpec, parseCron } from "./cron.js";

/** Most keys kept per bucket; further keys are ignored with a warning. */
export const MAX_MIRROR_ENTRIES = 10_000;

export interface ScheduleEntry {
  schedule: Schedule;
  cron: CronSpec;
}

/** Keyed by KV key: schedules by schedule key, manifests by job key (`Schedule.jobId`). */
export interface ScheduleMirror {
  schedules: ReadonlyMap<string, ScheduleEntry>;
  jobs: ReadonlyMap<string, Manifest>;
}

/** One KV entry as the mirror sees it; null = deleted, or not usable by this agent. */
export type MirrorChange =
  | { bucket: "schedules"; key: string; entry: ScheduleEntry | null }
  | { bucket: "jobs"; key: string; manifest: Manifest | null };

export const emptyMirror = (): ScheduleMirror => ({ schedules: new Map(), jobs: new Map() });

/**
 * A decoded `schedules` value → an entry, or null: malformed values, `when` instead of `cron` and
 * unparseable crons are ignored with a warning naming the key (behavior.md §19); `runs_on:
 * backend` schedules are not this agent's business and are dropped quietly.
 */
export function scheduleEntryFrom(key: string, value: unknown, log: Logger): ScheduleEntry | null {
  const decoded = decodeSchedule(value);
  if (!decoded.ok) {
    log.warn(
      { schedule: key, problem: decoded.error.message },
      `schedule ${key} ignored: malformed`,
    );
    return null;
  }
  return entryFromSchedule(key, decoded.value, log);
}

/** A decoded schedule → an entry, or null (not `runs_on: agent`, or an invalid cron, warned). */
export function entryFromSchedule(
  key: string,
  schedule: Schedule,
  log: Logger,
): ScheduleEntry | null {
  if (schedule.runsOn !== "agent") return null;
  const parsed = parseCron(schedule.cron);
  if (!parsed.ok) {
    log.warn(
      { schedule: key, cron: schedule.cron, problem: parsed.problem },
      `schedule ${key} ignored: invalid cron "${schedule.cron}"`,
    );
    return null;
  }
  return { schedule, cron: parsed.cron };
}

/** A decoded `jobs` value → a manifest, or null with a warning naming the key. */
export function manifestFrom(key: string, value: unknown, log: Logger): Manifest | null {
  const decoded = decodeManifest(value);
  if (decoded.ok) return decoded.value;
  log.warn({ job: key, problem: decoded.error.message }, `job ${key} ignored: malformed manifest`);
  return null;
}

/** The raw bytes of a KV value → JSON, or undefined with a warning naming the entry. */
export function jsonFromKv(
  what: "schedule" | "job",
  key: string,
  bytes: Uint8Array,
  log: Logger,
): unknown {
  const parsed = parseJson(bytes);
  if (parsed.ok) return parsed.value;
  log.warn({ [what]: key, problem: parsed.error.message }, `${what} ${key} ignored: not JSON`);
  return undefined;
}

export function changeFromKv(
  bucket: "schedules" | "jobs",
  key: string,
  bytes: Uint8Array | null,
  log: Logger,
): MirrorChange {
  if (bucket === "schedules") {
    const value = bytes === null ? undefined : jsonFromKv("schedule", key, bytes, log);
    return { bucket, key, entry: value === undefined ? null : scheduleEntryFrom(key, value, log) };
  }
  const value = bytes === null ? undefined : jsonFromKv("job", key, bytes, log);
  return { bucket, key, manifest: value === undefined ? null : manifestFrom(key, value, log) };
}

export interface AppliedChange {
  mirror: ScheduleMirror;
  /** false when the mirror already held exactly this (a watch replaying current values). */
  changed: boolean;
  /** true when a new key was refused because the bucket is at MAX_MIRROR_ENTRIES. */
  refused: boolean;
}

const sameSchedule = (a: ScheduleEntry | undefined, b: ScheduleEntry | null): boolean =>
  a === undefined || b === null
    ? a === undefined && b === null
    : JSON.stringify(encodeSchedule(a.schedule)) === JSON.stringify(encodeSchedule(b.schedule));

const sameManifest = (a: Manifest | undefined, b: Manifest | null): boolean =>
  a === undefined || b === null
    ? a === undefined && b === null
    : JSON.stringify(encodeManifest(a)) === JSON.stringify(encodeManifest(b));

export function applyMirrorChange(
  mirror: ScheduleMirror,
  change: MirrorChange,
  maxEntries = MAX_MIRROR_ENTRIES,
): AppliedChange {
  const unchanged = { mirror, changed: false, refused: false };
  if (change.bucket === "schedules") {
    const before = mirror.schedules.get(change.key);
    if (sameSchedule(before, change.entry)) return unchanged;
    const schedules = new Map(mirror.schedules);
    if (change.entry === null) schedules.delete(change.key);
    else if (before === undefined && schedules.size >= maxEntries)
      return { ...unchanged, refused: true };
    else schedules.set(change.key, change.entry);
    return { mirror: { ...mirror, schedules }, changed: true, refused: false };
  }
  const before = mirror.jobs.get(change.key);
  if (sameManifest(before, change.manifest)) return unchanged;
  const jobs = new Map(mirror.jobs);
  if (change.manifest === null) jobs.delete(change.key);
  else if (before === undefined && jobs.size >= maxEntries) return { ...unchanged, refused: true };
  else jobs.set(change.key, change.manifest);
  return { mirror: { ...mirror, jobs }, changed: true, refused: false };
}
