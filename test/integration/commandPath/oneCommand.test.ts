import { afterEach, describe, expect, it } from "vitest";
import { eventStartedSubject } from "../../../src/services/nats/subjects.js";
import { HOT_PATH_V8_FLAGS } from "../../../src/services/perf/tiering.js";
import { parseTimestamp } from "../../../src/services/wire/index.js";
import { AgentScenario } from "../../helpers/agentScenario.js";

let s: AgentScenario | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

describe("a command on commands.pc.<pc_id> (behavior.md 5.2, wire.md 4.3, 4.6)", () => {
  it("runs once and yields one EventStarted and one ExecResult that agree", async () => {
    s = await AgentScenario.start();
    const cmd = s.runCommand("echo hello; echo warn >&2; exit 3", {
      id: "inventory-hw",
      version: "2.1.0",
    });
    const execId = cmd.execId!;
    // V8's defaults until the first command (src/services/perf/tiering.ts).
    const tiering = { msg: "first command: V8 now optimises the command path sooner" };
    expect(s.agent.logs.filter((l) => l.json?.msg === tiering.msg)).toEqual([]);
    await s.publish(cmd);

    const started = await s.waitStarted(cmd.requestId);
    const result = await s.waitResult(cmd.requestId);
    expect(started).toEqual({
      result_id: expect.any(String),
      request_id: cmd.requestId,
      exec_id: execId,
      pc_id: s.pcId,
      started_at: expect.any(String),
      manifest_id: "inventory-hw",
      version: "2.1.0",
    });
    expect(result).toEqual({
      result_id: started.result_id,
      request_id: cmd.requestId,
      exec_id: execId,
      pc_id: s.pcId,
      exit_code: 3,
      stdout: "hello\n",
      stderr: "warn\n",
      started_at: started.started_at,
      finished_at: expect.any(String),
      manifest_id: "inventory-hw",
    });
    expect(result.result_id).toMatch(/^[0-9a-f-]{36}$/);
    const startedAt = parseTimestamp(result.started_at);
    const finishedAt = parseTimestamp(result.finished_at);
    expect(startedAt).not.toBeNull();
    expect(finishedAt).toBeGreaterThanOrEqual(startedAt ?? Number.POSITIVE_INFINITY);

    // Once both outboxes are empty nothing more can be published for this run.
    await s.waitOutboxesEmpty();
    const inResults = await s.streamResult(cmd.requestId);
    expect(inResults.count).toBe(1);
    expect(inResults.last?.data).toEqual(result);
    expect(inResults.last?.headers?.get("Nats-Msg-Id")).toBe(result.result_id);
    const inEvents = await s.streamEvent(eventStartedSubject(execId, s.pcId));
    expect(inEvents.count).toBe(1);
    expect(inEvents.last?.headers?.get("Nats-Msg-Id")).toBe(result.result_id);

    expect(s.runsOf(cmd.requestId)).toBe(1);
    expect(s.results.messages.filter((m) => m.data.request_id === cmd.requestId)).toHaveLength(1);
    expect(s.events.messages.filter((m) => m.data.request_id === cmd.requestId)).toHaveLength(1);
    expect(await s.waitFinishedRecord(cmd.requestId)).toMatchObject({
      state: "finished",
      result_id: result.result_id,
      exit_code: 3,
    });
    const finished = await s.agent.waitForLog({
      msg: "command finished",
      request_id: cmd.requestId,
    });
    expect(finished.json).toMatchObject({
      exec_id: execId,
      result_id: result.result_id,
      exit_code: 3,
    });
    expect((await s.agent.waitForLog(tiering)).json?.v8_flags).toEqual(HOT_PATH_V8_FLAGS);
  });

  it("a command without exec_id yields a result and no started event", async () => {
    s = await AgentScenario.start();
    const cmd = s.runCommand("printf 'no newline'", { execId: null });
    await s.publish(cmd);
    const result = await s.waitResult(cmd.requestId);
    expect(result.exit_code).toBe(0);
    expect(result.stdout).toBe("no newline");
    expect(result).not.toHaveProperty("exec_id");
    await s.waitOutboxesEmpty();
    expect(s.events.messages.filter((m) => m.data.request_id === cmd.requestId)).toHaveLength(0);
    expect(s.runsOf(cmd.requestId)).toBe(1);
  });

  it("a missing cwd → exit 120 `failed to start: …`, nothing run (7.7)", async () => {
    s = await AgentScenario.start();
    const cmd = s.runCommand("echo ran", { cwd: "/nonexistent/kanade-test-dir" });
    await s.publish(cmd);
    const r = await s.waitResult(cmd.requestId);
    expect(r.exit_code).toBe(120);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^failed to start: .*\/nonexistent\/kanade-test-dir/);
    expect(r).not.toHaveProperty("skipped");
    expect(s.runsOf(cmd.requestId)).toBe(0);
    // The run was launched (started event, result_id minted) but the child never started.
    const started = await s.waitStarted(cmd.requestId);
    expect(r.result_id).toBe(started.result_id);
  });

  it("a dotted pc_id: only commands.pc.<the whole id> is addressed to it (5.3)", async () => {
    s = await AgentScenario.start({ agent: { id: "lab.pc-7" } });
    const prefix = s.runCommand("echo prefix");
    const longer = s.runCommand("echo longer");
    const mine = s.runCommand("echo mine");
    await s.publish(prefix, "commands.pc.lab");
    await s.publish(longer, "commands.pc.lab.pc-7.x");
    await s.publish(mine, "commands.pc.lab.pc-7");
    const r = await s.waitResult(mine.requestId);
    expect(r.pc_id).toBe("lab.pc-7");
    expect(r.stdout).toBe("mine\n");
    await s.waitReplayDrained();
    await s.waitOutboxesEmpty();
    expect(s.runsOf(prefix.requestId)).toBe(0);
    expect(s.runsOf(longer.requestId)).toBe(0);
    expect(s.ledgerRequestIds()).toHaveLength(1);
    expect(s.results.messages).toHaveLength(1);
  });
});
