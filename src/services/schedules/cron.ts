// Cron expressions of behavior.md 16.3. croner does the calendar arithmetic (UTC, 6 or 7 fields,
// names, 0/7 = Sunday, day-of-month OR day-of-week); a grammar check in front of it keeps the
// accepted language to the one the spec lists, so croner's extensions (`L`, `W`, `#`, `?`,
// `@daily`, `5/10`) make a schedule unparseable here as they would in the other agent.
import { Cron } from "croner";

/** A parsed cron expression. */
export interface CronSpec {
  readonly text: string;
  /** The first fire instant strictly after `ms` (whole seconds, epoch ms), or null if none. */
  nextAfter(ms: number): number | null;
}

export type CronParse = { ok: true; cron: CronSpec } | { ok: false; problem: string };

interface FieldRule {
  name: string;
  names: boolean;
}

const FIELDS: readonly FieldRule[] = [
  { name: "second", names: false },
  { name: "minute", names: false },
  { name: "hour", names: false },
  { name: "day-of-month", names: false },
  { name: "month", names: true },
  { name: "day-of-week", names: true },
  { name: "year", names: false },
];

// One list item: `*`, `*/n`, `v`, `a-b`, `a-b/n`; a value is digits, or a three-letter name in
// the month and day-of-week fields (which names exist and every range is croner's check).
const NUMERIC_ITEM = /^(?:\*(?:\/\d+)?|\d+(?:-\d+(?:\/\d+)?)?)$/;
const NAMED_ITEM = /^(?:\*(?:\/\d+)?|(?:\d+|[A-Za-z]{3})(?:-(?:\d+|[A-Za-z]{3})(?:\/\d+)?)?)$/;

function grammarProblem(fields: readonly string[]): string | null {
  if (fields.length !== 6 && fields.length !== 7) {
    return `expected 6 or 7 fields (seconds first, optional year), got ${fields.length}`;
  }
  for (const [i, field] of fields.entries()) {
    const rule = FIELDS[i]!;
    const item = rule.names ? NAMED_ITEM : NUMERIC_ITEM;
    for (const part of field.split(",")) {
      if (!item.test(part)) return `${rule.name} field "${field}": unsupported item "${part}"`;
    }
  }
  return null;
}

/** Parses a schedule's `cron`; never throws. */
export function parseCron(text: string): CronParse {
  const fields = text
    .trim()
    .split(/\s+/)
    .filter((f) => f !== "");
  const problem = grammarProblem(fields);
  if (problem !== null) return { ok: false, problem };
  let cron: Cron;
  try {
    cron = new Cron(fields.join(" "), {
      timezone: "UTC",
      mode: "6-or-7-parts",
      // false = the classic OR of day-of-month and day-of-week when both are restricted.
      domAndDow: false,
      paused: true,
    });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return { ok: false, problem: reason.replace(/^CronPattern:\s*/, "") };
  }
  return { ok: true, cron: cronSpec(text, cron) };
}

function cronSpec(text: string, cron: Cron): CronSpec {
  // croner searches to its year limit before giving up on an expression that cannot fire again
  // (`0 0 0 30 2 *` costs ~50 ms); remember the answer so a re-plan does not pay it again.
  let exhaustedFrom = Number.POSITIVE_INFINITY;
  return {
    text,
    nextAfter(ms: number): number | null {
      if (ms >= exhaustedFrom) return null;
      const next = cron.nextRun(new Date(ms));
      if (next === null) {
        exhaustedFrom = Math.min(exhaustedFrom, ms);
        return null;
      }
      return next.getTime();
    },
  };
}
