import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Subject } from "rxjs";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { silentLogger } from "../../../src/services/logging/logger.js";
import {
  CONFIRM_DEADLINE_MS,
  confirmDeadlineFromEnv,
  ReleaseHealth,
} from "../../../src/services/selfupdate/health.js";
import { armRelease } from "../../../src/services/selfupdate/sentinel.js";
import { stagingLayout } from "../../../src/services/selfupdate/stagingLayout.js";
import { readReleaseState, writeReleaseState } from "../../../src/services/selfupdate/stateFile.js";
import { systemClock } from "../../../src/services/time/clock.js";
import { tempDir } from "../../helpers/tmp.js";

const DEADLINE = 60_000;

async function setup(opts: { running?: string } = {}) {
  const staging = stagingLayout(join(tempDir("kanade-health-"), "staging"));
  mkdirSync(staging.root, { recursive: true });
  const armed = armRelease(
    { current: "1.0.0", previous: null, pending: null, quarantined: ["0.5.0"] },
    "2.0.0",
    Date.now(),
  );
  await writeReleaseState(staging, { ...armed, pending: { ...armed.pending!, boots: 1 } });
  const health = await ReleaseHealth.open({
    staging,
    agentVersion: opts.running ?? "2.0.0",
    clock: systemClock,
    log: silentLogger(),
    deadlineMs: DEADLINE,
  });
  const reached$ = new Subject<void>();
  const restarts: number[] = [];
  let restarted: () => void = () => {};
  const restartRequested = new Promise<void>((r) => {
    restarted = r;
  });
  health.watch({
    serverReached$: reached$,
    requestRestart: (code) => {
      restarts.push(code);
      restarted();
    },
  });
  return { staging, health, reached$, restarts, restartRequested };
}

describe("health confirmation of a fresh release", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("reports the quarantine list and knows it runs unconfirmed", async () => {
    const h = await setup();
    expect(h.health.quarantined()).toEqual(["0.5.0"]);
    expect(h.health.unconfirmed).toBe(true);
  });

  it("clears pending when the release confirms, and then never rolls back", async () => {
    const h = await setup();
    h.reached$.next();
    expect(await h.health.confirm()).toBe(true);
    expect((await readReleaseState(h.staging)).state).toMatchObject({
      current: "2.0.0",
      previous: "1.0.0",
      pending: null,
    });
    await vi.advanceTimersByTimeAsync(10 * DEADLINE);
    expect(h.restarts).toEqual([]);
    expect(await h.health.confirm()).toBe(false);
  });

  it("rolls back and asks for exit 64 when the deadline passes after a server was reached", async () => {
    const h = await setup();
    h.reached$.next();
    await vi.advanceTimersByTimeAsync(DEADLINE - 1);
    expect(h.restarts).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await h.restartRequested;
    expect(h.restarts).toEqual([64]);
    expect((await readReleaseState(h.staging)).state).toEqual({
      current: "1.0.0",
      previous: "1.0.0",
      pending: null,
      quarantined: ["0.5.0", "2.0.0"],
    });
    expect(h.health.quarantined()).toEqual(["0.5.0", "2.0.0"]);
  });

  it("suspends the deadline while no server was ever reached, then counts from zero", async () => {
    const h = await setup();
    await vi.advanceTimersByTimeAsync(5 * DEADLINE);
    expect(h.restarts).toEqual([]);
    expect((await readReleaseState(h.staging)).state.pending?.version).toBe("2.0.0");
    h.reached$.next();
    await vi.advanceTimersByTimeAsync(DEADLINE - 1);
    expect(h.restarts).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await h.restartRequested;
    expect(h.restarts).toEqual([64]);
  });

  it("does nothing in a release that is not the pending one", async () => {
    const h = await setup({ running: "1.0.0" });
    expect(h.health.unconfirmed).toBe(false);
    h.reached$.next();
    await vi.advanceTimersByTimeAsync(10 * DEADLINE);
    expect(h.restarts).toEqual([]);
    expect(await h.health.confirm()).toBe(false);
    expect((await readReleaseState(h.staging)).state.pending?.version).toBe("2.0.0");
  });

  it("takes its window from the test knob only when it is sane", () => {
    expect(confirmDeadlineFromEnv({})).toBe(CONFIRM_DEADLINE_MS);
    expect(confirmDeadlineFromEnv({ KANADE_AGENT_CONFIRM_DEADLINE_MS: "1500" })).toBe(1500);
    expect(confirmDeadlineFromEnv({ KANADE_AGENT_CONFIRM_DEADLINE_MS: "5" })).toBe(60_000);
    expect(confirmDeadlineFromEnv({ KANADE_AGENT_CONFIRM_DEADLINE_MS: "x" })).toBe(60_000);
  });
});
