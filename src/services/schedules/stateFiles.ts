// The scheduler's two files in the data directory (behavior.md 1.8): `local_schedules.json`
// (the cache of 16.1) and `local_completions.json` (16.7).
import { readFile, rename } from "node:fs/promises";
import type { Logger } from "../logging/logger.js";
import { parseJson } from "../wire/json.js";
import { decodeLocalCompletions, encodeLocalCompletions } from "../wire/localCompletions.js";
import type { LocalCompletions } from "../wire/types.js";
import { decodeLocalSchedules, encodeLocalSchedules } from "./localSchedulesCodec.js";
import { entryFromSchedule, type ScheduleEntry, type ScheduleMirror } from "./mirror.js";

export interface CachedSchedules {
  mirror: ScheduleMirror;
  /** null when the file held none (or there was no file). */
  membership: string[] | null;
}

const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** The file's text, or null when it does not exist. */
async function readIfPresent(path: string): Promise<string | null> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}

/** Moves an unreadable file aside so that the next write does not destroy the evidence. */
async function setAside(path: string, problem: string, log: Logger): Promise<void> {
  const aside = `${path}.corrupt`;
  await rename(path, aside).catch((err: unknown) =>
    log.error({ file: path, err: errText(err) }, `could not rename ${path} to ${aside}`),
  );
  log.warn({ file: path, moved_to: aside, problem }, `${path} is unreadable; starting empty`);
}

/** behavior.md 16.7: an unparseable file is renamed with `.corrupt` and the map starts empty. */
export async function loadCompletions(path: string, log: Logger): Promise<LocalCompletions> {
  const text = await readIfPresent(path);
  if (text === null) return new Map();
  const json = parseJson(text);
  const decoded = json.ok ? decodeLocalCompletions(json.value) : json;
  if (decoded.ok) return decoded.value;
  await setAside(path, decoded.error.message, log);
  return new Map();
}

export const completionsText = (c: LocalCompletions): string =>
  `${JSON.stringify(encodeLocalCompletions(c), null, 2)}\n`;

/**
 * The cache of 16.1. A damaged file is set aside like the completions file (it is only a
 * cache: the next sync with the broker writes it again); a single bad entry is skipped.
 */
export async function loadLocalSchedules(path: string, log: Logger): Promise<CachedSchedules> {
  const empty: CachedSchedules = {
    mirror: { schedules: new Map(), jobs: new Map() },
    membership: null,
  };
  const text = await readIfPresent(path);
  if (text === null) return empty;
  const json = parseJson(text);
  const decoded = json.ok ? decodeLocalSchedules(json.value) : json;
  if (!decoded.ok) {
    await setAside(path, decoded.error.message, log);
    return empty;
  }
  const { cache, problems } = decoded.value;
  for (const problem of problems) log.warn({ file: path, problem }, `${path}: entry ignored`);
  const schedules = new Map<string, ScheduleEntry>();
  for (const { key, schedule } of cache.schedules) {
    const entry = entryFromSchedule(key, schedule, log);
    if (entry !== null) schedules.set(key, entry);
  }
  const jobs = new Map(cache.jobs.map((j) => [j.key, j.manifest] as const));
  return { mirror: { schedules, jobs }, membership: cache.membership };
}

/** The schedules of the mirror and the jobs they name; other jobs are not worth keeping. */
export function localSchedulesText(
  mirror: ScheduleMirror,
  membership: readonly string[] | null,
): string {
  const schedules = [...mirror.schedules].map(([key, e]) => ({ key, schedule: e.schedule }));
  const wanted = new Set(schedules.map((s) => s.schedule.jobId));
  const jobs = [...mirror.jobs]
    .filter(([key]) => wanted.has(key))
    .map(([key, manifest]) => ({ key, manifest }));
  const doc = encodeLocalSchedules({
    schedules,
    jobs,
    membership: membership === null ? null : [...membership],
  });
  return `${JSON.stringify(doc, null, 2)}\n`;
}
