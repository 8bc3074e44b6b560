import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { childMatching, childrenMatching, isAlive } from "../../faults/processes.js";
import { OUTCOME_UNKNOWN_NOTE } from "../../src/services/commands/recovery.js";
import { HELPER_PROCESS_TITLE } from "../../src/services/exec/spawnHelper.js";
import { eventStartedSubject, killSubject } from "../../src/services/nats/subjects.js";
import { AgentScenario, killMatching, marker, pidsMatching } from "../helpers/agentScenario.js";
import { waitFor } from "../helpers/waitFor.js";

let s: AgentScenario | undefined;
const marks: string[] = [];
afterEach(async () => {
  // A SIGKILLed agent cannot take its children with it (they lead their own process group).
  for (const m of marks.splice(0)) killMatching(m);
  await s?.close();
  s = undefined;
});

/** The spawn helper the agent `agentPid` started, if one runs. */
const helperOf = (agentPid: number) => childMatching(agentPid, HELPER_PROCESS_TITLE);

/** Runs `sleep 30.<mark>` on `scenario` (the mark finds its process, and kills it after). */
async function runMarkedSleep(
  scenario: AgentScenario,
): Promise<{ cmd: ReturnType<AgentScenario["runCommand"]>; mark: string }> {
  const mark = marker();
  marks.push(mark);
  const cmd = scenario.runCommand(`sleep 30.${mark}`);
  await scenario.publish(cmd);
  await waitFor(() => pidsMatching(mark).length > 0, { what: "the marked sleep to run" });
  return { cmd, mark };
}

describe("spawn helper faults", () => {
  it("the spawn helper SIGKILLed during a run: result -1 saying so, the script killed, the next command runs", async () => {
    s = await AgentScenario.start();
    const { cmd, mark } = await runMarkedSleep(s);
    const helper = helperOf(s.agent.pid!);
    expect(helper).toBeGreaterThan(0);

    process.kill(helper!, "SIGKILL");
    const r = await s.waitResult(cmd.requestId);
    expect(r.exit_code).toBe(-1);
    expect(r.stderr).toBe(
      "[agent: the spawn helper was killed by SIGKILL; the script was killed, its exit code is unknown]",
    );
    await waitFor(() => pidsMatching(mark).length === 0, { what: "the orphaned script to die" });
    expect(s.agent.running).toBe(true);
    expect(s.logCount("spawn helper was killed by SIGKILL")).toBe(1);

    const next = s.runCommand("echo after");
    await s.publish(next);
    expect((await s.waitResult(next.requestId)).stdout).toBe("after\n");
    expect(helperOf(s.agent.pid!)).not.toBe(helper);
    expect(s.runsOf(cmd.requestId)).toBe(1);
  });

  it("the agent SIGKILLed: its spawn helpers exit too", async () => {
    s = await AgentScenario.start();
    // Two at once (two slots on a 2-CPU machine) may start the second helper.
    const cmds = [s.runCommand("sleep 0.5"), s.runCommand("sleep 0.5")];
    for (const cmd of cmds) await s.publish(cmd);
    for (const cmd of cmds) await s.waitResult(cmd.requestId);
    const agentPid = s.agent.pid!;
    const helpers = childrenMatching(agentPid, HELPER_PROCESS_TITLE);
    expect(helpers.length).toBeGreaterThan(0);
    await s.agent.kill();
    await waitFor(() => helpers.every((h) => !isAlive(h)), {
      what: "the helpers to exit with their agent",
    });
  });
});

describe("agent crashes (behavior.md 6.6, 18.2)", () => {
  it("SIGKILL during a run, then a restart: exit 121 with the run's result_id, never run again", async () => {
    s = await AgentScenario.start();
    const { cmd, mark } = await runMarkedSleep(s);
    const started = await s.waitStarted(cmd.requestId);
    expect(s.ledgerRecord(cmd.requestId)?.state).toBe("running");

    await s.agent.kill();
    killMatching(mark);
    const agent = await s.restartAgent();
    const r = await s.waitStreamResult(cmd.requestId, 15_000);
    expect(r).toEqual({
      result_id: started.result_id,
      request_id: cmd.requestId,
      exec_id: cmd.execId,
      pc_id: s.pcId,
      exit_code: 121,
      stdout: "",
      stderr: OUTCOME_UNKNOWN_NOTE,
      started_at: started.started_at,
      finished_at: expect.any(String),
      manifest_id: cmd.id,
    });
    expect(OUTCOME_UNKNOWN_NOTE).toBe("outcome unknown: agent restarted during run");

    // The retained copy comes back through the re-opened durable and is absorbed by the ledger.
    await s.waitReady(15_000);
    await s.waitReplayDrained();
    await s.waitOutboxesEmpty();
    expect(s.runsOf(cmd.requestId)).toBe(1);
    expect((await s.streamResult(cmd.requestId)).count).toBe(1);
    expect(await s.waitFinishedRecord(cmd.requestId)).toMatchObject({
      state: "finished",
      exit_code: 121,
    });
    expect(s.logCount("command launched", cmd.requestId)).toBe(0);
    expect(agent.running).toBe(true);
  });

  it("SIGTERM during a run: exit 0 within 5 s, result -1 `killed: agent stopping` published", async () => {
    s = await AgentScenario.start();
    const { cmd, mark } = await runMarkedSleep(s);

    const t0 = Date.now();
    const code = await s.agent.stop("SIGTERM", 8_000);
    const took = Date.now() - t0;
    expect(code).toBe(0);
    expect(took).toBeLessThan(5_000);
    expect(pidsMatching(mark)).toEqual([]);

    // 18.2: the result is written to the outbox and drained by 4 s if the broker allows; a result
    // the drain could not deliver stays in outbox/ and goes out after the next start.
    const inStream = await s.streamResult(cmd.requestId);
    if (inStream.count === 0) {
      const { results } = s.outboxFiles();
      expect(results).toHaveLength(1);
      await s.restartAgent();
    }
    const r = await s.waitStreamResult(cmd.requestId, 10_000);
    expect(r.exit_code).toBe(-1);
    expect(r.stderr).toBe("killed: agent stopping");
    expect(s.runsOf(cmd.requestId)).toBe(1);
    expect(existsSync(join(s.agent.dataDir, "outbox", `${r.result_id}.json`))).toBe(false);
    expect((await s.streamResult(cmd.requestId)).count).toBe(1);
    expect(await s.waitFinishedRecord(cmd.requestId)).toMatchObject({
      state: "finished",
      exit_code: -1,
    });
  });

  it("SIGTERM on a slow link (300 ms each way): the stop waits for the result's PubAck, nothing left held or in the outbox", async () => {
    s = await AgentScenario.start({ proxy: true });
    const { cmd } = await runMarkedSleep(s);
    // The result's PubAck comes back ~600 ms after its publish: after the last drain pass and
    // the connection's 500 ms drain limit unless the stop waits for it.
    s.proxy!.latency(300);
    expect(await s.agent.stop("SIGTERM", 8_000)).toBe(0);

    const r = await s.waitStreamResult(cmd.requestId, 10_000);
    expect(r.stderr).toBe("killed: agent stopping");
    expect(s.outboxFiles().results).toEqual([]);
    // Finished and no longer holding the result (the agent is stopped: true now or never).
    expect(await s.waitFinishedRecord(cmd.requestId, 0)).toMatchObject({ exit_code: -1 });
  });

  it("SIGKILL during the jitter wait: resumed after restart with the same result_id, still killable", async () => {
    s = await AgentScenario.start();
    const cmd = s.runCommand("echo ran", { jitterSecs: 1_000_000 });
    await s.publish(cmd);
    const started = await s.waitStarted(cmd.requestId);
    await s.waitOutboxesEmpty();
    expect(s.ledgerRecord(cmd.requestId)).toMatchObject({
      state: "launching",
      result_id: started.result_id,
    });

    await s.agent.kill();
    const agent = await s.restartAgent();
    await agent.waitForLog({
      msg: "resuming a command admitted before the restart",
      request_id: cmd.requestId,
      state: "launching",
    });
    await s.waitReady();
    // 6.6: kill.<exec_id> is subscribed again before the remaining wait.
    await s.publishRaw("", killSubject(cmd.execId!));
    const r = await s.waitStreamResult(cmd.requestId, 10_000);
    expect(r.exit_code).toBe(-1);
    expect(r.stderr).toBe(`killed by remote signal (kill.${cmd.execId})`);
    expect(r.result_id).toBe(started.result_id);
    expect(r.started_at).toBe(started.started_at);
    expect(s.runsOf(cmd.requestId)).toBe(0);
    // The started event is not sent again.
    await s.waitOutboxesEmpty();
    expect((await s.streamEvent(eventStartedSubject(cmd.execId!, s.pcId))).count).toBe(1);
    expect(s.logCount("command launched", cmd.requestId)).toBe(0);
  });

  it("SIGTERM during the jitter wait: quick exit 0, no result, the command stays in the ledger", async () => {
    s = await AgentScenario.start();
    const cmd = s.runCommand("echo ran", { jitterSecs: 1_000_000 });
    await s.publish(cmd);
    const started = await s.waitStarted(cmd.requestId);
    const t0 = Date.now();
    expect(await s.agent.stop("SIGTERM", 8_000)).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5_000);
    // 18.2: not started yet, so not reported; it resumes at the next start (6.6).
    expect((await s.streamResult(cmd.requestId)).count).toBe(0);
    expect(s.outboxFiles().results).toEqual([]);
    expect(s.ledgerRecord(cmd.requestId)).toMatchObject({
      state: "launching",
      result_id: started.result_id,
    });
    expect(s.runsOf(cmd.requestId)).toBe(0);
  });
});
