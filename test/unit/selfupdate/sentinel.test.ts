import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { formatSha256Digest, parseSha256Digest } from "../../../src/services/selfupdate/digest.js";
import { releaseVersionProblem } from "../../../src/services/selfupdate/releaseVersion.js";
import {
  armRelease,
  confirmRelease,
  keptReleases,
  planLaunch,
  rollBack,
} from "../../../src/services/selfupdate/sentinel.js";
import { stagingLayout } from "../../../src/services/selfupdate/stagingLayout.js";
import { readReleaseState, writeReleaseState } from "../../../src/services/selfupdate/stateFile.js";
import type { ReleaseState } from "../../../src/services/wire/types.js";
import { tempDir } from "../../helpers/tmp.js";

const T0 = Date.parse("2026-05-16T10:00:00Z");
const state = (over: Partial<ReleaseState> = {}): ReleaseState => ({
  current: null,
  previous: null,
  pending: null,
  quarantined: [],
  ...over,
});
const all = () => true;

describe("boot sentinel rules", () => {
  it("runs the base install when nothing is staged, and changes nothing", () => {
    const p = planLaunch(state(), all);
    expect(p).toMatchObject({ run: null, changed: false, events: [] });
  });

  it("runs a confirmed current release as it is", () => {
    const p = planLaunch(state({ current: "2.0.0", previous: "1.0.0" }), all);
    expect(p).toMatchObject({ run: "2.0.0", changed: false });
  });

  it("runs the base install when current's folder is gone", () => {
    const p = planLaunch(state({ current: "2.0.0", previous: "1.0.0" }), (v) => v !== "2.0.0");
    expect(p.run).toBeNull();
    expect(p.state.current).toBeNull();
    expect(p.events).toEqual([{ kind: "missing", version: "2.0.0" }]);
  });

  it("counts unconfirmed starts and rolls back after the third", () => {
    let s = armRelease(state({ current: "1.0.0" }), "2.0.0", T0);
    expect(s).toEqual({
      current: "2.0.0",
      previous: "1.0.0",
      pending: { version: "2.0.0", armedAt: T0, boots: 0 },
      quarantined: [],
    });
    for (const boots of [1, 2, 3]) {
      const p = planLaunch(s, all);
      expect(p.run).toBe("2.0.0");
      expect(p.state.pending?.boots).toBe(boots);
      expect(p.events).toEqual([{ kind: "unconfirmedBoot", version: "2.0.0", boots }]);
      s = p.state;
    }
    const p = planLaunch(s, all);
    expect(p.run).toBe("1.0.0");
    expect(p.state).toMatchObject({ current: "1.0.0", pending: null, quarantined: ["2.0.0"] });
    expect(p.events).toEqual([{ kind: "rolledBack", from: "2.0.0", to: "1.0.0", boots: 3 }]);
  });

  it("rolls back to the base install when previous is the base install or gone", () => {
    const fromBase = armRelease(state(), "2.0.0", T0);
    const exhausted = { ...fromBase, pending: { version: "2.0.0", armedAt: T0, boots: 3 } };
    expect(planLaunch(exhausted, all)).toMatchObject({
      run: null,
      state: { current: null, quarantined: ["2.0.0"] },
    });
    const gone = { ...exhausted, previous: "1.0.0" };
    expect(planLaunch(gone, (v) => v !== "1.0.0")).toMatchObject({
      run: null,
      state: { current: null, quarantined: ["2.0.0"] },
    });
  });

  it("keeps the quarantine sorted and unique; never quarantines the base install", () => {
    const s = state({ current: "b", previous: "a", quarantined: ["c", "a0"] });
    expect(rollBack(s).quarantined).toEqual(["a0", "b", "c"]);
    expect(rollBack({ ...s, quarantined: ["b"] }).quarantined).toEqual(["b"]);
    expect(rollBack(state({ current: null, quarantined: ["x"] })).quarantined).toEqual(["x"]);
  });

  it("drops a pending record that does not belong to current", () => {
    const s = state({ current: "2.0.0", pending: { version: "3.0.0", armedAt: T0, boots: 1 } });
    const p = planLaunch(s, all);
    expect(p.state.pending).toBeNull();
    expect(p.events).toEqual([{ kind: "strayPending", version: "3.0.0" }]);
  });

  it("confirms only the pending version", () => {
    const s = armRelease(state(), "2.0.0", T0);
    expect(confirmRelease(s, "1.0.0")).toBe(s);
    expect(confirmRelease(s, "2.0.0").pending).toBeNull();
  });

  it("keeps current and previous folders only", () => {
    expect([...keptReleases(state({ current: "2", previous: "1" }))].sort()).toEqual(["1", "2"]);
    expect([...keptReleases(state())]).toEqual([]);
  });
});

describe("state.json", () => {
  it("reads a missing file as all null and writes the wire shape", async () => {
    const staging = stagingLayout(join(tempDir(), "staging"));
    mkdirSync(staging.root, { recursive: true });
    expect(await readReleaseState(staging)).toEqual({ state: state(), problem: null });
    const armed = armRelease(state({ current: "1.0.0", quarantined: ["0.9"] }), "2.0.0", T0);
    await writeReleaseState(staging, armed);
    expect(JSON.parse(readFileSync(staging.stateFile, "utf8"))).toEqual({
      current: "2.0.0",
      previous: "1.0.0",
      pending: { version: "2.0.0", armed_at: "2026-05-16T10:00:00.000Z", boots: 0 },
      quarantined: ["0.9"],
    });
    expect((await readReleaseState(staging)).state).toEqual(armed);
  });

  it("reads a damaged file as empty and says why", async () => {
    const staging = stagingLayout(join(tempDir(), "staging"));
    mkdirSync(staging.root, { recursive: true });
    writeFileSync(staging.stateFile, "{ not json");
    const r = await readReleaseState(staging);
    expect(r.state).toEqual(state());
    expect(r.problem).toMatch(/state\.json is not JSON/);
    writeFileSync(staging.stateFile, JSON.stringify({ current: 5 }));
    expect((await readReleaseState(staging)).problem).toMatch(/current/);
  });
});

describe("digests and version strings", () => {
  it("parses SHA-256= digests with or without padding, and nothing else", () => {
    const bytes = Buffer.alloc(32, 7);
    const text = formatSha256Digest(bytes);
    expect(text).toMatch(/^SHA-256=[A-Za-z0-9_-]{43}=$/);
    expect(parseSha256Digest(text)).toEqual(bytes);
    expect(parseSha256Digest(text.slice(0, -1))).toEqual(bytes);
    expect(parseSha256Digest("")).toBeNull();
    expect(parseSha256Digest(undefined)).toBeNull();
    expect(parseSha256Digest(`SHA-512=${text.slice(8)}`)).toBeNull();
    expect(parseSha256Digest(`SHA-256=${"A".repeat(20)}`)).toBeNull();
    expect(parseSha256Digest(`SHA-256=${"+/".repeat(21)}A=`)).toBeNull();
  });

  it("accepts version strings that are one safe folder name", () => {
    for (const ok of ["0.40.1", "1.0.0-rc.1", "2.0.0+build.5", "v3"])
      expect(releaseVersionProblem(ok)).toBeNull();
    for (const bad of ["", "../x", "a/b", "a\\b", ".hidden", "1..2", "1.0.tmp", "x.part", " 1"])
      expect(releaseVersionProblem(bad)).not.toBeNull();
  });
});
