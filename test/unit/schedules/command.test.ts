import { describe, expect, it } from "vitest";
import { buildScheduledCommand } from "../../../src/services/schedules/command.js";
import type { Manifest, Schedule } from "../../../src/services/wire/types.js";

const schedule: Schedule = {
  id: "nightly",
  cron: "0 0 3 * * *",
  jobId: "cleanup",
  target: { all: true, pcs: [], groups: [] },
  mode: "every_tick",
  runsOn: "agent",
  enabled: true,
};

const manifest: Manifest = {
  id: "cleanup",
  version: "2.1.0",
  execute: { shell: "sh", script: "rm -rf /tmp/x", timeout: "5m", runAs: "system", cwd: "/tmp" },
  staleness: { mode: "strict", maxCacheAge: "10m" },
};

function ids() {
  let n = 0;
  return () => `00000000-0000-4000-8000-00000000000${n++}`;
}

describe("scheduled command (behavior.md 16.5)", () => {
  it("takes id, version, body, run_as, cwd and staleness from the manifest, new ids, no deadline", () => {
    const { command, rejection } = buildScheduledCommand(
      { ...schedule, jitter: "90s" },
      manifest,
      ids(),
    );
    expect(rejection).toBeUndefined();
    expect(command).toEqual({
      id: "cleanup",
      version: "2.1.0",
      requestId: "00000000-0000-4000-8000-000000000000",
      execId: "00000000-0000-4000-8000-000000000001",
      shell: "sh",
      script: "rm -rf /tmp/x",
      timeoutSecs: 300,
      jitterSecs: 90,
      runAs: "system",
      cwd: "/tmp",
      staleness: { mode: "strict", maxCacheAge: "10m" },
    });
    expect(command.deadlineAt).toBeUndefined();
  });

  it.each([
    [undefined, 60],
    ["later", 60],
    ["1500ms", 1],
    ["1h 30s", 3630],
  ])("timeout %j → %d s", (timeout, secs) => {
    const m = { ...manifest, execute: { ...manifest.execute, timeout } };
    if (timeout === undefined) delete m.execute.timeout;
    expect(buildScheduledCommand(schedule, m, ids()).command.timeoutSecs).toBe(secs);
  });

  it.each([
    [undefined, null],
    ["nope", null],
    ["2m", 120],
    ["2500ms", 2],
  ])("jitter %j → %j", (jitter, secs) => {
    const s = jitter === undefined ? schedule : { ...schedule, jitter };
    expect(buildScheduledCommand(s, manifest, ids()).command.jitterSecs).toBe(secs);
  });

  it("gives every fire its own request_id and exec_id", () => {
    const next = ids();
    const a = buildScheduledCommand(schedule, manifest, next).command;
    const b = buildScheduledCommand(schedule, manifest, next).command;
    expect(new Set([a.requestId, a.execId, b.requestId, b.execId]).size).toBe(4);
  });

  it("marks a script_object job as a rejection (exit 122) instead of running an empty script", () => {
    const m: Manifest = {
      ...manifest,
      execute: { shell: "sh", script: "", scriptObject: "scripts/cleanup.sh", runAs: "system" },
    };
    const built = buildScheduledCommand(schedule, m, ids());
    expect(built.rejection).toMatch(/script_object/);
    expect(built.command.id).toBe("cleanup");
  });
});
