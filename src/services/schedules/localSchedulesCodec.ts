// `local_schedules.json` [ext] (behavior.md 16.1): the `runs_on: agent` schedules, their jobs and
// the last known membership, so local schedules fire after a restart without a broker. The
// entries keep their wire form (the Schedule and Manifest codecs), keyed by their KV key.
//
// {"format":1,"membership":["g"]|null,
//  "schedules":[{"key":"k","value":{…Schedule…}}],"jobs":[{"key":"j","value":{…Manifest…}}]}
import { type Decoded, fail, ok } from "../wire/decoded.js";
import { decodeManifest, encodeManifest } from "../wire/manifest.js";
import { decodeSchedule, encodeSchedule } from "../wire/schedule.js";
import { isPlainObject, kindOf } from "../wire/schema.js";
import type { Manifest, Schedule } from "../wire/types.js";

const FORMAT = 1;

export interface LocalSchedulesCache {
  schedules: { key: string; schedule: Schedule }[];
  jobs: { key: string; manifest: Manifest }[];
  /** null when no membership was known when the file was written. */
  membership: string[] | null;
}

export interface DecodedLocalSchedules {
  cache: LocalSchedulesCache;
  /** Entries left out because they did not decode, one line each. */
  problems: string[];
}

export function encodeLocalSchedules(c: LocalSchedulesCache): Record<string, unknown> {
  return {
    format: FORMAT,
    membership: c.membership === null ? null : [...c.membership],
    schedules: c.schedules.map((s) => ({ key: s.key, value: encodeSchedule(s.schedule) })),
    jobs: c.jobs.map((j) => ({ key: j.key, value: encodeManifest(j.manifest) })),
  };
}

/**
 * The whole file fails only when its frame is wrong; a single entry that does not decode is left
 * out and reported, so one bad entry does not cost the others.
 */
export function decodeLocalSchedules(value: unknown): Decoded<DecodedLocalSchedules> {
  if (!isPlainObject(value)) return fail("", `expected a JSON object, got ${kindOf(value)}`);
  if (value.format !== FORMAT)
    return fail("format", `expected ${FORMAT}, got ${kindOf(value.format)}`);
  const membership = value.membership;
  if (
    membership !== null &&
    !(Array.isArray(membership) && membership.every((g) => typeof g === "string"))
  ) {
    return fail("membership", `expected null or an array of strings, got ${kindOf(membership)}`);
  }
  if (!Array.isArray(value.schedules))
    return fail("schedules", `expected an array, got ${kindOf(value.schedules)}`);
  if (!Array.isArray(value.jobs))
    return fail("jobs", `expected an array, got ${kindOf(value.jobs)}`);

  const problems: string[] = [];
  const cache: LocalSchedulesCache = {
    schedules: [],
    jobs: [],
    membership: membership === null ? null : [...(membership as string[])],
  };
  for (const [i, item] of value.schedules.entries()) {
    const entry = keyed(item, `schedules[${i}]`, problems);
    if (entry === null) continue;
    const decoded = decodeSchedule(entry.value);
    if (decoded.ok) cache.schedules.push({ key: entry.key, schedule: decoded.value });
    else problems.push(`schedule ${entry.key}: ${decoded.error.message}`);
  }
  for (const [i, item] of value.jobs.entries()) {
    const entry = keyed(item, `jobs[${i}]`, problems);
    if (entry === null) continue;
    const decoded = decodeManifest(entry.value);
    if (decoded.ok) cache.jobs.push({ key: entry.key, manifest: decoded.value });
    else problems.push(`job ${entry.key}: ${decoded.error.message}`);
  }
  return ok({ cache, problems });
}

function keyed(
  item: unknown,
  where: string,
  problems: string[],
): { key: string; value: unknown } | null {
  if (isPlainObject(item) && typeof item.key === "string")
    return { key: item.key, value: item.value };
  problems.push(`${where}: expected {"key": string, "value": object}`);
  return null;
}
