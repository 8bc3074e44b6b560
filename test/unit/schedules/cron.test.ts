import { Cron } from "croner";
import { describe, expect, it, vi } from "vitest";
import { parseCron } from "../../../src/services/schedules/cron.js";

const at = (iso: string) => Date.parse(iso);

/** The next `n` fire instants after `from`, as ISO strings. */
function nextFires(cron: string, from: string, n = 3): string[] {
  const parsed = parseCron(cron);
  if (!parsed.ok) throw new Error(`${cron}: ${parsed.problem}`);
  const out: string[] = [];
  let t = at(from);
  for (let i = 0; i < n; i++) {
    const next = parsed.cron.nextAfter(t);
    if (next === null) break;
    out.push(new Date(next).toISOString());
    t = next;
  }
  return out;
}

// 2026-05-16 is a Saturday.
const SAT = "2026-05-16T10:00:00.000Z";

describe("cron evaluation (behavior.md 16.3)", () => {
  it.each([
    [
      "every second",
      "* * * * * *",
      "2026-05-16T10:00:00.000Z",
      ["10:00:01", "10:00:02", "10:00:03"],
    ],
    [
      "*/2 seconds",
      "*/2 * * * * *",
      "2026-05-16T10:00:00.500Z",
      ["10:00:02", "10:00:04", "10:00:06"],
    ],
    ["range with step", "1-10/3 * * * * *", SAT, ["10:00:01", "10:00:04", "10:00:07"]],
    ["list", "5,40 * * * * *", SAT, ["10:00:05", "10:00:40", "10:01:05"]],
    ["minute and hour", "30 15 12 * * *", SAT, ["12:15:30"]],
  ])("%s: %s", (_, cron, from, times) => {
    expect(nextFires(cron, from, times.length)).toEqual(times.map((t) => `2026-05-16T${t}.000Z`));
  });

  it("is evaluated in UTC whatever the process time zone", () => {
    // Midnight UTC, not local midnight.
    expect(nextFires("0 0 0 * * *", SAT, 1)).toEqual(["2026-05-17T00:00:00.000Z"]);
  });

  it.each([
    ["0", "0 0 0 * * 0"],
    ["7", "0 0 0 * * 7"],
    ["SUN", "0 0 0 * * SUN"],
    ["sun (any case)", "0 0 0 * * sun"],
  ])("day-of-week %s is Sunday", (_, cron) => {
    expect(nextFires(cron, SAT, 2)).toEqual([
      "2026-05-17T00:00:00.000Z",
      "2026-05-24T00:00:00.000Z",
    ]);
  });

  it("reads weekday and month names, ranges of names and steps over them", () => {
    expect(nextFires("0 0 0 * * Mon-Wed", SAT)).toEqual([
      "2026-05-18T00:00:00.000Z",
      "2026-05-19T00:00:00.000Z",
      "2026-05-20T00:00:00.000Z",
    ]);
    expect(nextFires("0 0 0 1 JAN-MAR/2 *", SAT, 2)).toEqual([
      "2027-01-01T00:00:00.000Z",
      "2027-03-01T00:00:00.000Z",
    ]);
    expect(nextFires("0 0 0 1 jun *", SAT, 1)).toEqual(["2026-06-01T00:00:00.000Z"]);
  });

  it("fires on either day when both day-of-month and day-of-week are restricted", () => {
    // The 17th is a Sunday; Mondays are the 18th and 25th.
    expect(nextFires("0 0 0 17 * MON", SAT)).toEqual([
      "2026-05-17T00:00:00.000Z",
      "2026-05-18T00:00:00.000Z",
      "2026-05-25T00:00:00.000Z",
    ]);
  });

  it("restricts by one day field alone when the other is *", () => {
    expect(nextFires("0 0 0 * * MON", SAT, 2)).toEqual([
      "2026-05-18T00:00:00.000Z",
      "2026-05-25T00:00:00.000Z",
    ]);
    expect(nextFires("0 0 0 17 * *", SAT, 2)).toEqual([
      "2026-05-17T00:00:00.000Z",
      "2026-06-17T00:00:00.000Z",
    ]);
  });

  it("honours the optional 7th field, the year", () => {
    expect(nextFires("0 0 0 1 1 * 2028", SAT)).toEqual(["2028-01-01T00:00:00.000Z"]);
    expect(nextFires("0 0 12 1 1 * 2027-2029/2", SAT)).toEqual([
      "2027-01-01T12:00:00.000Z",
      "2029-01-01T12:00:00.000Z",
    ]);
    expect(nextFires("0 0 0 1 1 * 2020", SAT)).toEqual([]);
  });

  it("never fires on a date that does not exist, and remembers that", () => {
    const parsed = parseCron("0 0 0 30 2 *");
    if (!parsed.ok) throw new Error(parsed.problem);
    // Counted, not timed: croner's full search to its year limit is what must not be repeated.
    const searches = vi.spyOn(Cron.prototype, "nextRun");
    try {
      expect(parsed.cron.nextAfter(at(SAT))).toBeNull();
      expect(searches).toHaveBeenCalledTimes(1);
      const later: (number | null)[] = [];
      for (let i = 1; i <= 100; i++) later.push(parsed.cron.nextAfter(at(SAT) + i * 1000));
      expect(later.every((n) => n === null)).toBe(true);
      // A re-plan asks again every tick; none of those asks searches again.
      expect(searches).toHaveBeenCalledTimes(1);
      // An earlier instant is not covered by what was learnt: it is searched.
      expect(parsed.cron.nextAfter(at(SAT) - 1000)).toBeNull();
      expect(searches).toHaveBeenCalledTimes(2);
    } finally {
      searches.mockRestore();
    }
  });

  it.each([
    ["five fields", "* * * * *"],
    ["eight fields", "* * * * * * * *"],
    ["empty", ""],
    ["second out of range", "61 * * * * *"],
    ["weekday 8", "0 0 0 * * 8"],
    ["step of zero", "*/0 * * * * *"],
    ["numeric prefix step", "5/10 * * * * *"],
    ["reversed range", "0 0 0 * * FRI-MON"],
    ["last day of month", "0 0 0 L * *"],
    ["question mark", "0 0 0 ? * MON"],
    ["nth weekday", "0 0 0 * * FRI#2"],
    ["nickname", "@daily"],
    ["name in a numeric field", "0 MON * * * *"],
    ["unknown name", "0 0 0 * FOO *"],
    ["garbage", "every day at noon please ok"],
  ])("rejects %s: %j", (_, cron) => {
    const parsed = parseCron(cron);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.problem).not.toBe("");
  });
});
