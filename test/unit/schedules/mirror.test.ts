import { describe, expect, it } from "vitest";
import { createLogger } from "../../../src/services/logging/logger.js";
import {
  applyMirrorChange,
  changeFromKv,
  emptyMirror,
  type MirrorChange,
} from "../../../src/services/schedules/mirror.js";

type Line = { level: string; msg: string; [k: string]: unknown };

function logged() {
  const lines: Line[] = [];
  const log = createLogger({
    level: "debug",
    destination: { write: (s: string) => void lines.push(JSON.parse(s) as Line) },
  });
  return { log, lines };
}

const bytes = (v: unknown) =>
  new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v));

const agentSchedule = {
  id: "s1",
  cron: "*/5 * * * * *",
  job_id: "j1",
  target: { all: true },
  runs_on: "agent",
};

const job = {
  id: "j1",
  version: "1.0.0",
  execute: { shell: "sh", script: "echo hi" },
  staleness: { mode: "cached" },
};

describe("KV entries → mirror (behavior.md 16.1, §19)", () => {
  it("keeps a runs_on agent schedule with its parsed cron", () => {
    const { log, lines } = logged();
    const c = changeFromKv("schedules", "s1", bytes(agentSchedule), log);
    expect(c.bucket === "schedules" && c.entry?.schedule.id).toBe("s1");
    expect(lines).toEqual([]);
  });

  it("drops backend schedules quietly", () => {
    const { log, lines } = logged();
    const c = changeFromKv("schedules", "s1", bytes({ ...agentSchedule, runs_on: "backend" }), log);
    expect(c).toEqual({ bucket: "schedules", key: "s1", entry: null });
    expect(lines).toEqual([]);
  });

  it.each([
    ["not JSON", "{nope"],
    ["malformed", { ...agentSchedule, target: "everyone" }],
    ["when instead of cron", { id: "s1", when: "daily", job_id: "j1", runs_on: "agent" }],
    ["invalid cron", { ...agentSchedule, cron: "0 0 L * * *" }],
    ["five-field cron", { ...agentSchedule, cron: "* * * * *" }],
  ])("ignores a schedule that is %s, with a warning naming it", (_, value) => {
    const { log, lines } = logged();
    const c = changeFromKv("schedules", "nightly-backup", bytes(value), log);
    expect(c).toEqual({ bucket: "schedules", key: "nightly-backup", entry: null });
    expect(lines).toHaveLength(1);
    expect(lines[0]!.level).toBe("warn");
    expect(lines[0]!.msg).toContain("nightly-backup");
  });

  it("ignores a malformed manifest with a warning naming it", () => {
    const { log, lines } = logged();
    const c = changeFromKv("jobs", "cleanup", bytes({ ...job, execute: { shell: "bash" } }), log);
    expect(c).toEqual({ bucket: "jobs", key: "cleanup", manifest: null });
    expect(lines[0]!.msg).toContain("cleanup");
  });

  it("reads a tombstone as no value", () => {
    const { log } = logged();
    expect(changeFromKv("jobs", "j1", null, log)).toEqual({
      bucket: "jobs",
      key: "j1",
      manifest: null,
    });
  });
});

describe("applying changes", () => {
  const { log } = logged();
  const put = changeFromKv("schedules", "s1", bytes(agentSchedule), log);
  const del: MirrorChange = { bucket: "schedules", key: "s1", entry: null };

  it("adds, replaces and removes, and tells when nothing changed", () => {
    let r = applyMirrorChange(emptyMirror(), put);
    expect(r.changed).toBe(true);
    expect(r.mirror.schedules.has("s1")).toBe(true);
    // The same value again (a watch replaying what the walk read) changes nothing.
    r = applyMirrorChange(r.mirror, changeFromKv("schedules", "s1", bytes(agentSchedule), log));
    expect(r.changed).toBe(false);
    const disabled = changeFromKv(
      "schedules",
      "s1",
      bytes({ ...agentSchedule, enabled: false }),
      log,
    );
    r = applyMirrorChange(r.mirror, disabled);
    expect(r.changed).toBe(true);
    expect(r.mirror.schedules.get("s1")?.schedule.enabled).toBe(false);
    r = applyMirrorChange(r.mirror, del);
    expect(r.changed).toBe(true);
    expect(r.mirror.schedules.size).toBe(0);
    expect(applyMirrorChange(r.mirror, del).changed).toBe(false);
  });

  it("refuses new keys beyond the bound but still updates known ones", () => {
    const full = applyMirrorChange(emptyMirror(), put, 1).mirror;
    const other = changeFromKv("schedules", "s2", bytes({ ...agentSchedule, id: "s2" }), log);
    const r = applyMirrorChange(full, other, 1);
    expect(r).toMatchObject({ changed: false, refused: true });
    expect(applyMirrorChange(full, del, 1).changed).toBe(true);
  });
});
