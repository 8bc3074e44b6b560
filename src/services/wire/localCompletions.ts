// `local_completions.json` (behavior.md 16.7): `{"<schedule_id>::<job_id>": timestamp}`.
import { type Decoded, fail, ok } from "./decoded.js";
import { isPlainObject, kindOf, show } from "./schema.js";
import { formatTimestamp, parseTimestamp } from "./timestamp.js";
import type { LocalCompletions } from "./types.js";

/** The key under which a schedule's completion of a job is recorded. */
export const completionKey = (scheduleId: string, jobId: string): string =>
  `${scheduleId}::${jobId}`;

// Walked by hand rather than with a zod record: keys are arbitrary text, and a key such as
// `__proto__` must stay an ordinary entry.
export function decodeLocalCompletions(value: unknown): Decoded<LocalCompletions> {
  if (!isPlainObject(value)) return fail("", `expected a JSON object, got ${kindOf(value)}`);
  const completions: LocalCompletions = new Map();
  for (const [key, at] of Object.entries(value)) {
    const ms = typeof at === "string" ? parseTimestamp(at) : null;
    if (ms === null) {
      const got = typeof at === "string" ? show(at) : kindOf(at);
      return fail(key, `expected an RFC 3339 date-time with a zone, got ${got}`);
    }
    completions.set(key, ms);
  }
  return ok(completions);
}

export function encodeLocalCompletions(c: LocalCompletions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, at] of c) {
    Object.defineProperty(out, key, {
      value: formatTimestamp(at),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}
