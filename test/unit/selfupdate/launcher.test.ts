import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { scanArgs } from "../../../src/launcher/args.js";
import { chooseRelease } from "../../../src/launcher/choose.js";
import { cleanStaging } from "../../../src/services/selfupdate/cleanup.js";
import { keptReleases } from "../../../src/services/selfupdate/sentinel.js";
import {
  releaseDir,
  type StagingLayout,
  stagingLayout,
} from "../../../src/services/selfupdate/stagingLayout.js";
import { readReleaseState, writeReleaseState } from "../../../src/services/selfupdate/stateFile.js";
import type { ReleaseState } from "../../../src/services/wire/types.js";
import { tempDir } from "../../helpers/tmp.js";

function staging(): StagingLayout {
  const s = stagingLayout(join(tempDir("kanade-launch-"), "staging"));
  mkdirSync(s.releases, { recursive: true });
  mkdirSync(s.downloads, { recursive: true });
  return s;
}

function release(s: StagingLayout, version: string, manifest: Record<string, unknown> = {}) {
  const dir = releaseDir(s, version);
  mkdirSync(join(dir, "dist"), { recursive: true });
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name: "kanade-agent", version, main: "dist/agent.mjs", ...manifest }),
  );
  writeFileSync(join(dir, "dist", "agent.mjs"), "export {};\n");
}

const pending = (version: string, boots: number) => ({ version, armedAt: 1_000, boots });

async function write(s: StagingLayout, st: Partial<ReleaseState>) {
  await writeReleaseState(s, {
    current: null,
    previous: null,
    pending: null,
    quarantined: [],
    ...st,
  });
}

describe("launcher: choosing the release", () => {
  it("runs the base install without a state file, and writes nothing", async () => {
    const s = staging();
    const c = await chooseRelease(s, { persist: true });
    expect(c).toMatchObject({ version: null, entry: null, stateProblem: null });
    expect(existsSync(s.stateFile)).toBe(false);
  });

  it("runs current from its folder's entry and counts its unconfirmed boot on disk", async () => {
    const s = staging();
    release(s, "2.0.0");
    await write(s, { current: "2.0.0", pending: pending("2.0.0", 0) });
    const c = await chooseRelease(s, { persist: true });
    expect(c.version).toBe("2.0.0");
    expect(c.entry).toBe(join(releaseDir(s, "2.0.0"), "dist", "agent.mjs"));
    expect((await readReleaseState(s)).state.pending?.boots).toBe(1);
  });

  it("does not count a boot when only asked which version would run", async () => {
    const s = staging();
    release(s, "2.0.0");
    await write(s, { current: "2.0.0", pending: pending("2.0.0", 0) });
    expect((await chooseRelease(s, { persist: false })).version).toBe("2.0.0");
    expect((await readReleaseState(s)).state.pending?.boots).toBe(0);
  });

  it("rolls back on the fourth unconfirmed start and records the quarantine", async () => {
    const s = staging();
    release(s, "1.0.0");
    release(s, "2.0.0");
    await write(s, { current: "2.0.0", previous: "1.0.0", pending: pending("2.0.0", 3) });
    const c = await chooseRelease(s, { persist: true });
    expect(c.version).toBe("1.0.0");
    expect((await readReleaseState(s)).state).toMatchObject({
      current: "1.0.0",
      pending: null,
      quarantined: ["2.0.0"],
    });
  });

  it("treats a damaged release folder as missing and runs the base install", async () => {
    const s = staging();
    release(s, "2.0.0", { version: "9.9.9" });
    await write(s, { current: "2.0.0" });
    const c = await chooseRelease(s, { persist: true });
    expect(c.version).toBeNull();
    expect(c.plan.events).toEqual([{ kind: "missing", version: "2.0.0" }]);
  });

  it("runs the base install when state.json is damaged, and says why", async () => {
    const s = staging();
    writeFileSync(s.stateFile, "garbage");
    const c = await chooseRelease(s, { persist: true });
    expect(c.version).toBeNull();
    expect(c.stateProblem).toMatch(/not JSON/);
  });

  it("deletes other release folders and download leftovers, keeping current and previous", async () => {
    const s = staging();
    for (const v of ["1.0.0", "2.0.0", "0.9.0"]) release(s, v);
    mkdirSync(join(s.releases, "3.0.0.tmp"));
    writeFileSync(join(s.downloads, "3.0.0.part"), "half");
    const state = { current: "2.0.0", previous: "1.0.0", pending: null, quarantined: [] };
    const out = await cleanStaging(s, keptReleases(state));
    expect(out.failures).toEqual([]);
    expect(readdirSync(s.releases).sort()).toEqual(["1.0.0", "2.0.0"]);
    expect(readdirSync(s.downloads)).toEqual([]);
  });
});

describe("launcher: command line", () => {
  it("finds --config in both spellings and passes everything but --supervise on", () => {
    expect(scanArgs(["--supervise", "--config", "a.toml"])).toEqual({
      supervise: true,
      version: false,
      help: false,
      config: "a.toml",
      forChild: ["--config", "a.toml"],
    });
    expect(scanArgs(["--config=b.toml", "--version"])).toMatchObject({
      config: "b.toml",
      version: true,
    });
    expect(scanArgs(["-h"]).help).toBe(true);
    expect(scanArgs(["--config"]).config).toBe("");
  });
});
