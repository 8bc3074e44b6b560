import { existsSync } from "node:fs";
import { join } from "node:path";
import { Kvm } from "@nats-io/kv";
import { afterEach, describe, expect, it } from "vitest";
import { CONFIG_KEY_GLOBAL, KV_AGENT_CONFIG } from "../../../src/services/nats/subjects.js";
import { parseTimestamp } from "../../../src/services/wire/index.js";
import { AgentScenario } from "../../helpers/agentScenario.js";

let s: AgentScenario | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

describe("max_local_concurrent (behavior.md 5.4)", () => {
  it("max_local_concurrent = 1 from agent_config global runs commands one at a time", async () => {
    s = await AgentScenario.start();
    const kv = await new Kvm(s.nc).open(KV_AGENT_CONFIG);
    const mark = s.agent.mark();
    await kv.put(CONFIG_KEY_GLOBAL, JSON.stringify({ max_local_concurrent: 1 }));
    await s.agent.waitForLog(
      (l) =>
        l.json?.msg === "effective config changed" &&
        (l.json.changed as Record<string, unknown> | undefined)?.max_local_concurrent === 1,
      10_000,
      { after: mark },
    );

    // Each script holds a lock folder for 1 s; a second one inside it means two ran at once.
    const lock = join(s.runDir, "busy");
    const overlap = join(s.runDir, "overlap");
    const body = `mkdir '${lock}' 2>/dev/null || echo x >> '${overlap}'; sleep 1; rmdir '${lock}' 2>/dev/null; true`;
    const cmds = [s.runCommand(body), s.runCommand(body), s.runCommand(body)];
    for (const c of cmds) await s.publish(c);
    const results = await Promise.all(cmds.map((c) => s!.waitResult(c.requestId, 15_000)));

    expect(results.map((r) => r.exit_code)).toEqual([0, 0, 0]);
    expect(existsSync(overlap)).toBe(false);
    for (const c of cmds) expect(s.runsOf(c.requestId)).toBe(1);
    // Waiting counts as run time (started_at is the launch, taken once a slot is free): the
    // three runs do not overlap.
    const spans = results
      .map((r) => [parseTimestamp(r.started_at) ?? 0, parseTimestamp(r.finished_at) ?? 0] as const)
      .sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++)
      expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1] - 50);
  });
});
