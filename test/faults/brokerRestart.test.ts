import { afterEach, describe, expect, it } from "vitest";
import { AgentScenario } from "../helpers/agentScenario.js";
import { waitFor } from "../helpers/waitFor.js";

let s: AgentScenario | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

describe("broker restarts (behavior.md 2.2, 8.7, §9)", () => {
  it("broker SIGKILLed and restarted on the same store while a command runs: one run, one result", async () => {
    s = await AgentScenario.start();
    const cmd = s.runCommand("sleep 3; echo survived");
    await s.publish(cmd);
    await waitFor(() => s!.runsOf(cmd.requestId) === 1, { what: "the script to start" });

    const mark = s.agent.mark();
    await s.server.stop();
    await s.agent.waitForLog({ msg: "connection lost" }, 10_000, { after: mark });
    await s.server.restart();

    const r = await s.waitStreamResult(cmd.requestId, 20_000);
    expect(r.exit_code).toBe(0);
    expect(r.stdout).toBe("survived\n");
    await s.agent.waitForLog({ msg: "reconnected" }, 10_000, { after: mark });
    await s.waitOutboxesEmpty();
    // Not awaited here: an ack the killed broker had not yet stored comes back only after the
    // server's 30 s ack wait; the ledger absorbing a replayed copy is tested in dedup.test.ts.
    expect(s.runsOf(cmd.requestId)).toBe(1);
    expect((await s.streamResult(cmd.requestId)).count).toBe(1);
    expect(s.logCount("command launched", cmd.requestId)).toBe(1);
  });

  it("broker restarted with an EMPTY store: the agent waits, and works once the set is back", async () => {
    s = await AgentScenario.start();
    const mark = s.agent.mark();
    await s.server.restart({ emptyStore: true });
    await s.agent.waitForLog({ msg: "reconnected" }, 15_000, { after: mark });
    // The replay consumer lost its stream: it ends and is looked for again (§3 retries).
    await s.agent.waitForLog({ msg: "replay consumer ended; re-opening" }, 15_000, {
      after: mark,
    });

    await s.bootstrap();
    const ready = s.agent.mark();
    const cmd = s.runCommand("echo back");
    await s.publish(cmd);
    const r = await s.waitStreamResult(cmd.requestId, 20_000);
    expect(r.exit_code).toBe(0);
    expect(r.stdout).toBe("back\n");
    // The durable is created again on the new store.
    await s.waitReady(20_000, ready);
    await s.waitReplayDrained(15_000);
    expect(s.runsOf(cmd.requestId)).toBe(1);
    expect(s.agent.running).toBe(true);
  });
});
