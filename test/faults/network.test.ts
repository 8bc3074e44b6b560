import { afterEach, describe, expect, it } from "vitest";
import { bootstrapKanade } from "../../src/services/nats/resources.js";
import { commandsPc, resultSubject, STREAM_RESULTS } from "../../src/services/nats/subjects.js";
import { encodeCommand } from "../../src/services/wire/index.js";
import { AgentProcess, ensureAgentBuilt } from "../helpers/agentProcess.js";
import { AgentScenario, connectClient, freePort, subjectState } from "../helpers/agentScenario.js";
import { NatsServer } from "../helpers/natsServer.js";
import { tempDir } from "../helpers/tmp.js";
import { waitFor } from "../helpers/waitFor.js";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("network faults (behavior.md 2.1, 2.2, 8.7)", () => {
  it("no broker at boot: the agent stays up, connects when one appears, runs a command", async () => {
    await ensureAgentBuilt();
    const port = await freePort();
    const agent = new AgentProcess({
      natsUrl: `nats://127.0.0.1:${port}`,
      log: { level: "debug" },
    });
    cleanups.push(() => agent.kill());
    await agent.start();
    await agent.waitForLog({ msg: "kanade-agent started" });
    // It keeps trying without a server: a failed attempt is logged, the process stays alive.
    await agent.waitForLog({ msg: /^cannot connect to NATS: .*\(still retrying\)$/ }, 15_000);
    expect(agent.running).toBe(true);

    const server = await NatsServer.start({ port });
    cleanups.push(() => server.stop());
    const nc = await connectClient(server.url);
    cleanups.push(() => nc.close());
    await bootstrapKanade(nc);
    await agent.waitForLog({ msg: "connected" }, 15_000);
    await agent.waitForLog({ msg: "replay consumer ready" }, 15_000);

    const runDir = tempDir("kanade-runs-");
    const requestId = `req-boot-${port}`;
    const cmd = {
      id: "boot",
      version: "1.0.0",
      requestId,
      execId: null,
      shell: "sh" as const,
      script: `echo run >> '${runDir}/runs'; echo hello`,
      timeoutSecs: 10,
      jitterSecs: null,
      runAs: "system" as const,
      staleness: { mode: "cached" as const },
    };
    nc.publish(commandsPc(agent.pcId), JSON.stringify(encodeCommand(cmd)));
    await nc.flush();
    let stdout: string | undefined;
    await waitFor(
      async () => {
        const st = await subjectState<{ stdout: string }>(
          nc,
          STREAM_RESULTS,
          resultSubject(requestId),
        );
        stdout = st.last?.data.stdout;
        return st.count === 1;
      },
      { timeoutMs: 15_000, what: "the result in RESULTS" },
    );
    expect(stdout).toBe("hello\n");
  });

  it("link black-holed while a command finishes: the result arrives exactly once after restore", {
    timeout: 60_000,
  }, async () => {
    const s = await AgentScenario.start({ proxy: true });
    cleanups.push(() => s.close());
    const proxy = s.proxy!;

    const cmd = s.runCommand("sleep 1; echo through");
    await s.publish(cmd);
    await waitFor(() => s.runsOf(cmd.requestId) === 1, { what: "the script to start" });
    proxy.blackhole(true);
    await s.agent.waitForLog({ msg: "command finished", request_id: cmd.requestId });
    expect((await s.streamResult(cmd.requestId)).count).toBe(0);
    const restoredAt = Date.now();
    proxy.blackhole(false);

    // The publish made into the hole is never acked: it is retried after the 30 s PubAck timeout
    // (8.3, 8.4), on the same connection, which the hole did not break.
    const r = await s.waitStreamResult(cmd.requestId, 40_000);
    expect(Date.now() - restoredAt).toBeLessThan(38_000);
    expect(r.stdout).toBe("through\n");
    await s.waitOutboxesEmpty(45_000);
    expect((await s.streamResult(cmd.requestId)).count).toBe(1);
    expect(s.runsOf(cmd.requestId)).toBe(1);
  });
});
