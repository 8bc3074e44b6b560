// Group membership and agent-side schedules through the real agent (issues 4 and 5).
import { Kvm } from "@nats-io/kv";
import { afterEach, describe, expect, it } from "vitest";
import {
  commandsGroup,
  KV_AGENT_GROUPS,
  KV_JOBS,
  KV_SCHEDULES,
} from "../../src/services/nats/subjects.js";
import { AgentScenario } from "../helpers/agentScenario.js";
import { sleep, waitFor } from "../helpers/waitFor.js";

let s: AgentScenario | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

const setGroups = async (scenario: AgentScenario, groups: string[]) =>
  (await new Kvm(scenario.nc).open(KV_AGENT_GROUPS)).put(scenario.pcId, JSON.stringify({ groups }));

describe("group membership (behavior.md §10)", () => {
  it("join → a group command runs; leave → the next one does not", async () => {
    s = await AgentScenario.start();
    await setGroups(s, ["canary"]);
    await s.agent
      .waitForLog((l) => JSON.stringify(l.json ?? {}).includes("canary"), 15_000)
      .catch(() => {});
    const first = s.runCommand("echo member");
    await waitFor(
      async () => {
        await s!.publish({ ...first }, commandsGroup("canary"));
        return s!.runsOf(first.requestId) > 0;
      },
      { timeoutMs: 15_000, intervalMs: 500, what: "group command to run once joined" },
    );
    await s.waitResult(first.requestId);
    expect(s.runsOf(first.requestId)).toBe(1); // re-published copies were duplicates

    await setGroups(s, ["other"]);
    const state = async () =>
      JSON.parse((await s!.nc.request(`agents.${s!.pcId}.state`, "", { timeout: 3_000 })).string());
    await waitFor(async () => (await state()).groups.join() === "other", {
      timeoutMs: 15_000,
      what: "membership updated",
    });
    const second = s.runCommand("echo not-a-member");
    await s.publish(second, commandsGroup("canary"));
    const control = s.runCommand("echo still-alive");
    await s.publish(control);
    await s.waitResult(control.requestId);
    await sleep(500); // the group command, had it been taken, would have run before the control
    expect(s.runsOf(second.requestId)).toBe(0);
  }, 60_000);

  it("a group command retained while the agent was offline runs only if it is a member", async () => {
    s = await AgentScenario.start();
    await setGroups(s, ["wave1"]);
    const state = async () =>
      JSON.parse((await s!.nc.request(`agents.${s!.pcId}.state`, "", { timeout: 3_000 })).string());
    await waitFor(async () => (await state()).groups.join() === "wave1", {
      timeoutMs: 15_000,
      what: "membership",
    });
    await s.agent.stop();
    const mine = s.runCommand("echo mine");
    const notMine = s.runCommand("echo not-mine");
    await s.publish(mine, commandsGroup("wave1"));
    await s.publish(notMine, commandsGroup("wave2"));
    await s.restartAgent();
    await s.waitResult(mine.requestId, 20_000);
    await s.waitReplayDrained(15_000);
    expect(s.runsOf(mine.requestId)).toBe(1);
    expect(s.runsOf(notMine.requestId)).toBe(0);
  }, 60_000);
});

describe("agent-side schedules (behavior.md §16)", () => {
  it("a 1-second runs_on=agent schedule fires through the real pipeline, also while the broker is down", async () => {
    s = await AgentScenario.start();
    const marker = s.runFile("sched");
    const jobs = await new Kvm(s.nc).open(KV_JOBS);
    const schedules = await new Kvm(s.nc).open(KV_SCHEDULES);
    await jobs.put(
      "tick-job",
      JSON.stringify({
        id: "tick-job",
        version: "1.0.0",
        execute: { shell: "sh", script: `echo x >> '${marker}'`, timeout: "10s" },
      }),
    );
    await schedules.put(
      "every-second",
      JSON.stringify({
        id: "every-second",
        cron: "* * * * * *",
        job_id: "tick-job",
        target: { pcs: [s.pcId] },
        runs_on: "agent",
      }),
    );
    await waitFor(() => s!.runsOf("sched") >= 2, { timeoutMs: 20_000, what: "two scheduled runs" });
    const scheduledResults = () =>
      s!.results.messages.filter((m) => m.data?.manifest_id === "tick-job").length;
    await waitFor(() => scheduledResults() >= 1, {
      timeoutMs: 10_000,
      what: "a scheduled result on results.>",
    });

    await s.server.stop();
    const before = s.runsOf("sched");
    await waitFor(() => s!.runsOf("sched") >= before + 2, {
      timeoutMs: 20_000,
      what: "runs while the broker is down",
    });
    const ranWhileDown = s.runsOf("sched");
    await s.server.restart();
    // Every run, including those while the broker was down, ends with a published result.
    await waitFor(() => scheduledResults() >= ranWhileDown, {
      timeoutMs: 40_000,
      what: "results of the offline runs",
    });
  }, 90_000);
});
