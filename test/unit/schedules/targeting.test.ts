import { describe, expect, it } from "vitest";
import { isScheduleForMe } from "../../../src/services/schedules/targeting.js";
import type { Schedule } from "../../../src/services/wire/types.js";

function schedule(overrides: Partial<Schedule> = {}): Schedule {
  return {
    id: "s1",
    cron: "* * * * * *",
    jobId: "j1",
    target: { all: false, pcs: [], groups: [] },
    mode: "every_tick",
    runsOn: "agent",
    enabled: true,
    ...overrides,
  };
}

describe("schedule targeting (behavior.md 16.2)", () => {
  it.each([
    ["target.all", { all: true, pcs: [], groups: [] }, [], true],
    ["its pc_id", { all: false, pcs: ["other", "pc-1"], groups: [] }, [], true],
    ["another pc_id", { all: false, pcs: ["pc-10", "PC-1"], groups: [] }, [], false],
    ["a shared group", { all: false, pcs: [], groups: ["wave1", "canary"] }, ["canary"], true],
    ["no shared group", { all: false, pcs: [], groups: ["wave1"] }, ["canary"], false],
    ["an empty target", { all: false, pcs: [], groups: [] }, ["canary"], false],
  ] as const)("matches %s → %s", (_, target, membership, expected) => {
    const s = schedule({
      target: { all: target.all, pcs: [...target.pcs], groups: [...target.groups] },
    });
    expect(isScheduleForMe(s, "pc-1", membership)).toBe(expected);
  });

  it("ignores disabled and backend schedules even when targeted", () => {
    const all = { all: true, pcs: [], groups: [] };
    expect(isScheduleForMe(schedule({ target: all, enabled: false }), "pc-1", [])).toBe(false);
    expect(isScheduleForMe(schedule({ target: all, runsOn: "backend" }), "pc-1", [])).toBe(false);
  });
});
