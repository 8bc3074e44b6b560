import { jetstreamManager } from "@nats-io/jetstream";
import { afterEach, describe, expect, it } from "vitest";
import {
  commandsPc,
  replayConsumerName,
  STREAM_EXEC,
} from "../../../src/services/nats/subjects.js";
import { encodeCommand } from "../../../src/services/wire/index.js";
import { AgentScenario } from "../../helpers/agentScenario.js";

let s: AgentScenario | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

describe("one run per request_id (behavior.md §6, 9.6)", () => {
  it("the same request_id published 1 000 times runs once and yields one result", async () => {
    s = await AgentScenario.start();
    const cmd = s.runCommand("echo once");
    const body = JSON.stringify(encodeCommand(cmd));
    const subject = commandsPc(s.pcId);
    for (let i = 0; i < 1_000; i++) s.nc.publish(subject, body);
    await s.nc.flush();

    const r = await s.waitResult(cmd.requestId);
    expect(r.stdout).toBe("once\n");
    await s.waitReplayDrained();
    await s.waitOutboxesEmpty();
    expect(s.runsOf(cmd.requestId)).toBe(1);
    expect((await s.streamResult(cmd.requestId)).count).toBe(1);
    const seen = s.results.messages.filter((m) => m.data.request_id === cmd.requestId);
    expect(new Set(seen.map((m) => m.data.result_id)).size).toBe(1);
    expect(s.logCount("command launched", cmd.requestId)).toBe(1);
    expect(s.ledgerRequestIds()).toHaveLength(1);
  });

  it("a live command is replayed from EXEC too, runs once, and is not run again after a restart", async () => {
    s = await AgentScenario.start();
    const cmd = s.runCommand("echo once");
    const subject = commandsPc(s.pcId);
    await s.publish(cmd, subject);
    const r = await s.waitResult(cmd.requestId);
    expect(r.exit_code).toBe(0);

    // Both deliveries arrive (9.6): one is admitted, the other dropped as a duplicate.
    const seq = await s.execSeq(subject);
    await s.waitReplayDrained();
    expect((await s.replayConsumer())?.ackFloor).toBeGreaterThanOrEqual(seq);
    const record = await s.waitFinishedRecord(cmd.requestId);
    expect(record).toMatchObject({ state: "finished", result_id: r.result_id, subject });
    const other = record?.source === "live" ? "replay" : "live";
    await s.agent.waitForLog({
      msg: "duplicate command dropped",
      request_id: cmd.requestId,
      source: other,
    });
    await s.waitOutboxesEmpty();
    expect(s.runsOf(cmd.requestId)).toBe(1);

    // Restart with a re-created durable: the retained command is replayed, the ledger absorbs it.
    expect(await s.agent.stop("SIGTERM")).toBe(0);
    const jsm = await jetstreamManager(s.nc);
    await jsm.consumers.delete(STREAM_EXEC, replayConsumerName(s.pcId));
    const agent = await s.restartAgent();
    const ready = await agent.waitForLog({ msg: "replay consumer ready" }, 15_000);
    expect(ready.json).toMatchObject({ outcome: "created", deliver_policy: "last_per_subject" });
    await agent.waitForLog({
      msg: "duplicate command dropped",
      request_id: cmd.requestId,
      source: "replay",
    });
    await s.waitReplayDrained();
    expect(s.runsOf(cmd.requestId)).toBe(1);
    expect((await s.streamResult(cmd.requestId)).count).toBe(1);
    expect(s.ledgerRecord(cmd.requestId)).toEqual(record);
    expect(s.logCount("command launched", cmd.requestId)).toBe(0);
  });
});
