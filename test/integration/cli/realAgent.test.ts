// The operator CLI against the real agent (issue 7): run, ping, config effective, agent state.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bootstrapKanade } from "../../../src/services/nats/resources.js";
import { AgentProcess } from "../../helpers/agentProcess.js";
import { NatsServer } from "../../helpers/natsServer.js";
import { waitFor } from "../../helpers/waitFor.js";
import { startCli } from "./cliHarness.js";

const PC = "PC-CLI";

describe("kanade against a running agent", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let agent: AgentProcess;
  const cli = (...args: string[]) => startCli(["--nats", server.url, ...args]).done;

  beforeAll(async () => {
    server = await NatsServer.start();
    nc = await connect({ servers: server.url });
    await bootstrapKanade(nc, { resultOutput: true });
    agent = await AgentProcess.start({ natsUrl: server.url, id: PC });
    await agent.waitForLog({ msg: "replay consumer ready" }, 20_000);
  }, 40_000);
  afterAll(async () => {
    await agent?.stop().catch(() => {});
    await nc?.close();
    await server?.stop();
  });

  it("kanade run prints the script's output and exits with its code", async () => {
    const r = await cli(
      "run",
      PC,
      "--shell",
      "sh",
      "--timeout",
      "10s",
      "--",
      "echo out-line; echo err-line >&2; exit 7",
    );
    expect(r.stdout).toContain("out-line");
    expect(r.stderr).toContain("err-line");
    expect(r.code).toBe(7);
  }, 30_000);

  it("kanade ping gets the agent's heartbeat", async () => {
    const r = await cli("--json", "ping", PC);
    expect(r.code).toBe(0);
    const hb = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    expect(hb.pc_id).toBe(PC);
    expect(hb.agent_version).toMatch(/\d+\.\d+\.\d+/);
    expect(hb).not.toHaveProperty("agent_cpu_pct");
  }, 20_000);

  it("config effective matches what the agent itself resolves", async () => {
    expect((await cli("config", "set", "heartbeat_interval", "45s")).code).toBe(0);
    expect((await cli("agent", "groups", "set", PC, "canary", "wave1")).code).toBe(0);
    expect(
      (await cli("config", "set", "heartbeat_interval", "20s", "--group", "canary")).code,
    ).toBe(0);
    expect((await cli("config", "set", "host_perf_interval", "2m", "--group", "wave1")).code).toBe(
      0,
    );
    expect((await cli("config", "set", "process_perf_top_n", "7", "--pc", PC)).code).toBe(0);
    const state = async () =>
      JSON.parse((await nc.request(`agents.${PC}.state`, "", { timeout: 3_000 })).string());
    await waitFor(async () => (await state()).effective_config.process_perf_top_n === 7, {
      timeoutMs: 15_000,
      what: "agent resolved the pc scope",
    });
    const agentView = (await state()).effective_config;
    expect((await state()).groups).toEqual(["canary", "wave1"]);
    const r = await cli("--json", "config", "effective", PC);
    expect(r.code).toBe(0);
    const cliView = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    const effective = cliView.effective ?? cliView.config ?? cliView;
    for (const field of [
      "heartbeat_interval",
      "host_perf_interval",
      "process_perf_top_n",
      "target_version",
    ])
      expect(effective[field] ?? null).toEqual(agentView[field] ?? null);
    expect(agentView.heartbeat_interval).toBe("20s");
    expect(agentView.host_perf_interval).toBe("2m");
  }, 40_000);

  it("a wrong URL gives a one-line error and exit 3; a missing pc_id gives usage exit 2", async () => {
    const bad = await startCli(["--nats", "nats://127.0.0.1:1", "ping", PC]).done;
    expect(bad.code).toBe(3);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
    const usage = await cli("run");
    expect(usage.code).toBe(2);
  }, 20_000);
});
