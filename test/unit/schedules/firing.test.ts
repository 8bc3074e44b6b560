import { describe, expect, it } from "vitest";
import {
  countsAsCompletion,
  decideFire,
  onceModeBlocks,
  recordCompletion,
} from "../../../src/services/schedules/firing.js";
import { completionKey } from "../../../src/services/wire/localCompletions.js";
import type { Manifest, Schedule } from "../../../src/services/wire/types.js";

const T0 = Date.UTC(2026, 4, 16, 10, 0, 0);

function schedule(overrides: Partial<Schedule> = {}): Schedule {
  return {
    id: "s1",
    cron: "* * * * * *",
    jobId: "j1",
    target: { all: true, pcs: [], groups: [] },
    mode: "every_tick",
    runsOn: "agent",
    enabled: true,
    ...overrides,
  };
}

const manifest: Manifest = {
  id: "j1",
  version: "1.0.0",
  execute: { shell: "sh", script: "true", runAs: "system" },
  staleness: { mode: "cached" },
};

const jobs = new Map([["j1", manifest]]);
const done = (at: number) => new Map([[completionKey("s1", "j1"), at]]);

describe("fire decision (behavior.md 16.4)", () => {
  it("fires an every_tick schedule whose job is cached, whatever was completed", () => {
    const d = decideFire("k", schedule(), {
      jobs,
      inFlight: new Set(),
      completions: done(T0),
      now: T0 + 1,
    });
    expect(d).toEqual({ fire: true, manifest });
  });

  it("skips when the job is not cached", () => {
    const d = decideFire("k", schedule({ jobId: "missing" }), {
      jobs,
      inFlight: new Set(),
      completions: new Map(),
      now: T0,
    });
    expect(d).toEqual({ fire: false, reason: "job missing is not cached" });
  });

  it("skips while the schedule's previous fire has not finished", () => {
    const d = decideFire("k", schedule(), {
      jobs,
      inFlight: new Set(["k"]),
      completions: new Map(),
      now: T0,
    });
    expect(d.fire).toBe(false);
    // Another schedule's run does not block this one.
    expect(
      decideFire("k", schedule(), {
        jobs,
        inFlight: new Set(["other"]),
        completions: new Map(),
        now: T0,
      }).fire,
    ).toBe(true);
  });

  it.each(["once_per_pc", "once_per_target"] as const)(
    "%s fires once, then never again without a cooldown",
    (mode) => {
      const s = schedule({ mode });
      expect(onceModeBlocks(s, new Map(), T0)).toBeNull();
      expect(onceModeBlocks(s, done(T0), T0 + 365 * 86_400_000)).toMatch(/no cooldown/);
    },
  );

  it("fires again once the cooldown has passed since the recorded completion", () => {
    const s = schedule({ mode: "once_per_pc", cooldown: "1h" });
    expect(onceModeBlocks(s, done(T0), T0 + 3_599_999)).toMatch(/cooldown 1h not over/);
    expect(onceModeBlocks(s, done(T0), T0 + 3_600_000)).toBeNull();
  });

  it("treats an unparseable cooldown as none", () => {
    const s = schedule({ mode: "once_per_pc", cooldown: "soon" });
    expect(onceModeBlocks(s, done(T0), T0 + 86_400_000 * 30)).toMatch(/not a duration/);
  });

  it("keys completions by schedule id and job id", () => {
    const s = schedule({ mode: "once_per_pc", jobId: "j2" });
    expect(onceModeBlocks(s, done(T0), T0)).toBeNull();
  });
});

describe("completions (behavior.md 16.6)", () => {
  it("counts only exit code 0 of a once_* schedule", () => {
    expect(countsAsCompletion("once_per_pc", 0)).toBe(true);
    expect(countsAsCompletion("once_per_target", 0)).toBe(true);
    for (const code of [1, -1, 120, 121, 122, 124, 125, 126, 127])
      expect(countsAsCompletion("once_per_pc", code)).toBe(false);
    expect(countsAsCompletion("every_tick", 0)).toBe(false);
  });

  it("records the time and forgets the oldest beyond the bound", () => {
    let c = new Map<string, number>();
    c = recordCompletion(c, "a::j", T0 + 2, 2);
    c = recordCompletion(c, "b::j", T0 + 1, 2);
    c = recordCompletion(c, "c::j", T0 + 3, 2);
    expect([...c]).toEqual([
      ["a::j", T0 + 2],
      ["c::j", T0 + 3],
    ]);
    c = recordCompletion(c, "a::j", T0 + 9, 2);
    expect(c.get("a::j")).toBe(T0 + 9);
  });
});
