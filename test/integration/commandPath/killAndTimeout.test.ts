import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killSubject } from "../../../src/services/nats/subjects.js";
import { parseTimestamp } from "../../../src/services/wire/index.js";
import { AgentScenario, killMatching, marker, pidsMatching } from "../../helpers/agentScenario.js";
import { waitFor } from "../../helpers/waitFor.js";

let s: AgentScenario;
const markers: string[] = [];
beforeAll(async () => {
  s = await AgentScenario.start();
});
afterAll(async () => {
  for (const m of markers) killMatching(m);
  await s?.close();
});

/** `sleep <n>.<marker>`: a sleep whose command line can be found again by pgrep. */
function markedSleep(seconds: number): { script: string; mark: string } {
  const mark = marker();
  markers.push(mark);
  return { script: `sleep ${seconds}.${mark}`, mark };
}

const durationMs = (r: { started_at: string; finished_at: string }) =>
  (parseTimestamp(r.finished_at) ?? 0) - (parseTimestamp(r.started_at) ?? 0);

describe("kill.<exec_id> and timeouts against the real agent (behavior.md 7.2, 7.11, 7.12)", () => {
  it("a kill while the child runs ends it at once: -1 and the remote-kill note", async () => {
    const { script, mark } = markedSleep(30);
    const cmd = s.runCommand(script);
    await s.publish(cmd);
    await waitFor(() => pidsMatching(mark).length > 0, { what: "the marked sleep to run" });

    const killedAt = Date.now();
    await s.publishRaw("", killSubject(cmd.execId!));
    const r = await s.waitResult(cmd.requestId, 5_000);
    // TERM ends `sleep` at once; the result is drained within a pass (1 s) of that.
    expect(Date.now() - killedAt).toBeLessThan(4_000);
    expect(r.exit_code).toBe(-1);
    expect(r.stderr).toBe(`killed by remote signal (kill.${cmd.execId})`);
    expect(r.stdout).toBe("");
    expect(s.runsOf(cmd.requestId)).toBe(1);
    expect(pidsMatching(mark)).toEqual([]);
    await s.agent.waitForLog({ msg: "kill received", exec_id: cmd.execId });
  });

  it("a kill during the jitter wait cancels the run before the spawn", async () => {
    const cmd = s.runCommand("echo ran", { jitterSecs: 1_000_000 });
    await s.publish(cmd);
    // The started event is written at launch, before the jitter wait (5.2 step 10).
    const started = await s.waitStarted(cmd.requestId);
    const launched = await s.agent.waitForLog({
      msg: "command launched",
      request_id: cmd.requestId,
    });
    expect(launched.json?.jitter_ms).toBeGreaterThan(0);

    await s.publishRaw("kill", killSubject(cmd.execId!));
    const r = await s.waitResult(cmd.requestId, 5_000);
    expect(r.exit_code).toBe(-1);
    expect(r.stderr).toBe(`killed by remote signal (kill.${cmd.execId})`);
    expect(r.result_id).toBe(started.result_id);
    expect(r.started_at).toBe(started.started_at);
    expect(s.runsOf(cmd.requestId)).toBe(0);
    expect(await s.waitFinishedRecord(cmd.requestId)).toMatchObject({
      state: "finished",
      exit_code: -1,
    });
  });

  // Node timers fire at once beyond 2^31−1 ms (~24.8 days); the chart waits in laps.
  it("a jitter wait beyond 24.8 days is not cut short (setTimeout overflow)", async () => {
    const cmd = s.runCommand("echo ran", { jitterSecs: 10_000_000_000 });
    await s.publish(cmd);
    const launched = await s.agent.waitForLog({
      msg: "command launched",
      request_id: cmd.requestId,
    });
    // With 10^10 s the draw is below 2^31−1 ms with a probability of 2·10^-4.
    expect(launched.json?.jitter_ms).toBeGreaterThan(2 ** 31);
    // Not running is only observable over a span: the buggy spawn comes within milliseconds.
    const spawned = await waitFor(() => s.runsOf(cmd.requestId) > 0, { timeoutMs: 1_500 }).then(
      () => true,
      () => false,
    );
    await s.publishRaw("", killSubject(cmd.execId!));
    await s.waitResult(cmd.requestId, 5_000);
    expect(spawned).toBe(false);
    expect(s.runsOf(cmd.requestId)).toBe(0);
  });

  it("one kill message ends every run of that exec_id (7.16)", async () => {
    const { script, mark } = markedSleep(30);
    const execId = `exec-shared-${mark}`;
    const a = s.runCommand(script, { execId });
    const b = s.runCommand(script, { execId });
    await s.publish(a);
    await s.publish(b);
    await waitFor(() => pidsMatching(mark).length >= 2, { what: "both marked sleeps to run" });
    await s.publishRaw("", killSubject(execId));
    const [ra, rb] = await Promise.all([s.waitResult(a.requestId), s.waitResult(b.requestId)]);
    for (const r of [ra, rb]) {
      expect(r.exit_code).toBe(-1);
      expect(r.stderr).toBe(`killed by remote signal (kill.${execId})`);
    }
    expect(ra.result_id).not.toBe(rb.result_id);
    expect(pidsMatching(mark)).toEqual([]);
  });

  it("timeout_secs 0 runs with a 1 s timeout (§19)", async () => {
    const { script } = markedSleep(30);
    const cmd = s.runCommand(script, { timeoutSecs: 0 });
    await s.publish(cmd);
    const r = await s.waitResult(cmd.requestId, 8_000);
    expect(r.exit_code).toBe(-1);
    expect(r.stderr).toBe("timeout after 1s");
    expect(s.runsOf(cmd.requestId)).toBe(1);
  });

  it("timeout_secs 1 ends a long child after about one second: -1, `timeout after 1s`", async () => {
    const { script, mark } = markedSleep(30);
    const cmd = s.runCommand(script, { timeoutSecs: 1 });
    await s.publish(cmd);
    const r = await s.waitResult(cmd.requestId, 8_000);
    expect(r.exit_code).toBe(-1);
    expect(r.stderr).toBe("timeout after 1s");
    expect(durationMs(r)).toBeGreaterThanOrEqual(1_000);
    expect(durationMs(r)).toBeLessThan(3_500);
    expect(s.runsOf(cmd.requestId)).toBe(1);
    expect(pidsMatching(mark)).toEqual([]);
  });

  it("a grandchild holding stdout past the timeout: result within timeout + 3 s, no survivor", async () => {
    const mark = marker();
    markers.push(mark);
    // The background subshell inherits stdout; the timeout kills the whole process group.
    const cmd = s.runCommand(`(sleep 60.${mark}; echo x) & sleep 61.${mark}`, { timeoutSecs: 2 });
    await s.publish(cmd);
    await waitFor(() => pidsMatching(mark).length >= 2, { what: "the marked sleeps to run" });
    const r = await s.waitResult(cmd.requestId, 2_000 + 3_000 + 1_500);
    expect(r.exit_code).toBe(-1);
    expect(r.stderr).toBe("timeout after 2s");
    expect(r.stdout).toBe("");
    expect(durationMs(r)).toBeLessThan(2_000 + 3_000);
    expect(pidsMatching(mark)).toEqual([]);
  });
});
