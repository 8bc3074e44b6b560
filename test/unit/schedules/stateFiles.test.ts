import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../../src/services/logging/logger.js";
import { LatestWriter } from "../../../src/services/schedules/latestWriter.js";
import {
  decodeLocalSchedules,
  encodeLocalSchedules,
} from "../../../src/services/schedules/localSchedulesCodec.js";
import {
  applyMirrorChange,
  changeFromKv,
  emptyMirror,
} from "../../../src/services/schedules/mirror.js";
import {
  completionsText,
  loadCompletions,
  loadLocalSchedules,
  localSchedulesText,
} from "../../../src/services/schedules/stateFiles.js";
import { encodeSchedule } from "../../../src/services/wire/schedule.js";
import type { Manifest, Schedule } from "../../../src/services/wire/types.js";
import { tempDir } from "../../helpers/tmp.js";

type Line = { level: string; msg: string; [k: string]: unknown };

function logged() {
  const lines: Line[] = [];
  const log = createLogger({
    level: "debug",
    destination: { write: (s: string) => void lines.push(JSON.parse(s) as Line) },
  });
  return { log, lines };
}

const schedule: Schedule = {
  id: "s1",
  cron: "0 */5 * * * *",
  jobId: "j1",
  target: { all: false, pcs: ["pc-1"], groups: ["canary"] },
  jitter: "30s",
  mode: "once_per_pc",
  cooldown: "1d",
  runsOn: "agent",
  enabled: true,
};

const manifest: Manifest = {
  id: "j1",
  version: "1.0.0",
  execute: { shell: "sh", script: "echo hi", timeout: "30s", runAs: "system" },
  staleness: { mode: "strict", maxCacheAge: "5m" },
};

describe("local_schedules.json codec", () => {
  it("round-trips schedules, jobs and membership in snake_case", () => {
    const cache = {
      schedules: [{ key: "s1", schedule }],
      jobs: [{ key: "j1", manifest }],
      membership: ["canary"],
    };
    const json = JSON.parse(JSON.stringify(encodeLocalSchedules(cache))) as Record<string, unknown>;
    expect(JSON.stringify(json)).toContain('"job_id":"j1"');
    expect(JSON.stringify(json)).toContain('"runs_on":"agent"');
    const decoded = decodeLocalSchedules(json);
    expect(decoded).toEqual({ ok: true, value: { cache, problems: [] } });
  });

  it("keeps the good entries when one does not decode", () => {
    const doc = {
      format: 1,
      membership: null,
      schedules: [
        { key: "bad", value: { id: "bad" } },
        { key: "s1", value: encodeSchedule(schedule) },
      ],
      jobs: [7],
    };
    const decoded = decodeLocalSchedules(doc);
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    expect(decoded.value.problems.some((p) => p.includes("bad"))).toBe(true);
    expect(decoded.value.problems.some((p) => p.includes("jobs[0]"))).toBe(true);
    expect(decoded.value.cache.membership).toBeNull();
    expect(decoded.value.cache.schedules).toEqual([{ key: "s1", schedule }]);
  });

  it("refuses a file of another shape", () => {
    expect(decodeLocalSchedules([]).ok).toBe(false);
    expect(decodeLocalSchedules({ format: 2, schedules: [], jobs: [], membership: null }).ok).toBe(
      false,
    );
    expect(decodeLocalSchedules({ format: 1, schedules: {}, jobs: [], membership: null }).ok).toBe(
      false,
    );
  });
});

describe("state files in the data directory", () => {
  it("writes the agent schedules with only the jobs they name, and loads them back", async () => {
    const { log } = logged();
    const path = join(tempDir(), "local_schedules.json");
    const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
    let mirror = emptyMirror();
    for (const change of [
      changeFromKv(
        "schedules",
        "s1",
        enc({ id: "s1", cron: "* * * * * *", job_id: "j1", runs_on: "agent" }),
        log,
      ),
      changeFromKv(
        "jobs",
        "j1",
        enc({
          id: "j1",
          version: "1",
          execute: { shell: "sh", script: "x" },
          staleness: { mode: "cached" },
        }),
        log,
      ),
      changeFromKv(
        "jobs",
        "unused",
        enc({
          id: "unused",
          version: "1",
          execute: { shell: "sh", script: "x" },
          staleness: { mode: "cached" },
        }),
        log,
      ),
    ]) {
      mirror = applyMirrorChange(mirror, change).mirror;
    }
    const writer = new LatestWriter(path, log);
    writer.write(localSchedulesText(mirror, ["g1"]));
    await writer.flush();
    const loaded = await loadLocalSchedules(path, log);
    expect([...loaded.mirror.schedules.keys()]).toEqual(["s1"]);
    expect(loaded.mirror.schedules.get("s1")?.cron.nextAfter(0)).toBe(1000);
    expect([...loaded.mirror.jobs.keys()]).toEqual(["j1"]);
    expect(loaded.membership).toEqual(["g1"]);
  });

  it("starts empty without files", async () => {
    const { log } = logged();
    const dir = tempDir();
    expect((await loadCompletions(join(dir, "c.json"), log)).size).toBe(0);
    const cached = await loadLocalSchedules(join(dir, "s.json"), log);
    expect(cached.mirror.schedules.size).toBe(0);
    expect(cached.membership).toBeNull();
  });

  it("round-trips completions in the Rust agent's format", async () => {
    const { log } = logged();
    const path = join(tempDir(), "local_completions.json");
    const at = Date.UTC(2026, 4, 16, 10, 0, 5, 123);
    writeFileSync(path, completionsText(new Map([["s1::j1", at]])));
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual({
      "s1::j1": "2026-05-16T10:00:05.123Z",
    });
    expect(await loadCompletions(path, log)).toEqual(new Map([["s1::j1", at]]));
  });

  it.each([
    ["not JSON", "{"],
    ["not an object", "[]"],
    ["a bad timestamp", '{"s1::j1": "yesterday"}'],
  ])("renames a completions file that is %s to .corrupt and starts empty", async (_, text) => {
    const { log, lines } = logged();
    const path = join(tempDir(), "local_completions.json");
    writeFileSync(path, text);
    expect((await loadCompletions(path, log)).size).toBe(0);
    expect(existsSync(path)).toBe(false);
    expect(readFileSync(`${path}.corrupt`, "utf8")).toBe(text);
    expect(lines.some((l) => l.level === "warn" && l.msg.includes("local_completions.json"))).toBe(
      true,
    );
  });

  it("keeps only the newest content when writes pile up", async () => {
    const { log } = logged();
    const path = join(tempDir(), "f.json");
    const writer = new LatestWriter(path, log);
    for (let i = 0; i < 50; i++) writer.write(`${i}`);
    await writer.flush();
    expect(readFileSync(path, "utf8")).toBe("49");
  });
});
