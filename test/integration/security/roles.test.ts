import { randomUUID } from "node:crypto";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { Objm } from "@nats-io/obj";
import { afterEach, describe, expect, it } from "vitest";
import { bootstrapKanade } from "../../../src/services/nats/resources.js";
import {
  commandsGroup,
  commandsPc,
  KV_AGENT_CONFIG,
  KV_AGENT_GROUPS,
  KV_SCRIPT_CURRENT,
  killSubject,
  logsFetchSubject,
  OBJ_AGENT_RELEASES,
  OBJ_RESULT_OUTPUT,
  pingSubject,
  replayConsumerName,
  STREAM_EXEC,
  STREAM_RESULTS,
} from "../../../src/services/nats/subjects.js";
import { encodeCommand } from "../../../src/services/wire/index.js";
import type { Command } from "../../../src/services/wire/types.js";
import { AgentProcess, ensureAgentBuilt } from "../../helpers/agentProcess.js";
import type { WireResult, WireStarted } from "../../helpers/agentScenario.js";
import { collect, waitFor } from "../../helpers/waitFor.js";
import { type RolesServer, startRolesServer } from "./rolesKit.js";

let roles: RolesServer | undefined;
const clients: NatsConnection[] = [];
const agents: AgentProcess[] = [];
afterEach(async () => {
  for (const a of agents.splice(0)) await a.kill();
  for (const nc of clients.splice(0)) await nc.close().catch(() => {});
  await roles?.server.stop();
  roles = undefined;
});

async function client(role: "agent" | "backend" | "operator"): Promise<NatsConnection> {
  if (!roles) throw new Error("no server");
  const nc = await roles.connectAs(role);
  clients.push(nc);
  return nc;
}

function command(script: string, over: Partial<Command> = {}): Command {
  return {
    id: "perm-test",
    version: "1.0.0",
    requestId: `req-${randomUUID()}`,
    execId: `exec-${randomUUID()}`,
    shell: "sh",
    script,
    timeoutSecs: 30,
    jitterSecs: null,
    runAs: "system",
    staleness: { mode: "cached" },
    ...over,
  };
}

describe("deploy/nats-server.roles.conf: the agent role (wire.md §9)", () => {
  it("lets the real agent do a full cycle without a single permissions violation", async () => {
    await ensureAgentBuilt();
    roles = await startRolesServer();
    const backend = await client("backend");
    await bootstrapKanade(backend, { resultOutput: true });
    const pcId = `perm-pc-${randomUUID().slice(0, 8)}`;
    const kvm = new Kvm(backend);
    await (await kvm.open(KV_AGENT_GROUPS)).put(pcId, JSON.stringify({ groups: ["wave1"] }));
    // Inventory off until the agent is up: turning it on starts a collection at once (14.1).
    const config = await kvm.open(KV_AGENT_CONFIG);
    await config.put(
      "global",
      JSON.stringify({ inventory_enabled: false, inventory_jitter: "0s" }),
    );
    await (await kvm.open(KV_SCRIPT_CURRENT)).put("perm-test", "1.0.0");

    const heartbeats = collect(backend, `heartbeat.${pcId}`);
    const hostPerf = collect(backend, `host_perf.${pcId}`);
    const inventory = collect(backend, `inventory.${pcId}.hw`);
    const results = collect<WireResult>(backend, "results.>");
    const started = collect<WireStarted>(backend, "events.started.>");

    const agent = new AgentProcess({
      id: pcId,
      natsUrl: roles.server.url,
      log: { level: "debug" },
      extraToml: `[nats]\nuser = "agent"\npassword = "${roles.passwords.agent}"\n`,
    });
    agents.push(agent);
    await agent.start();
    await agent.waitForLog({ msg: "replay consumer ready" }, 15_000);
    await agent.waitForLog({ msg: "group membership changed" }, 10_000);
    await heartbeats.waitForCount(1);
    await hostPerf.waitForCount(1);
    await config.put("global", JSON.stringify({ inventory_enabled: true, inventory_jitter: "0s" }));

    // A command with a version-pin read, a started event and output big enough for result_output.
    const big = command("head -c 1500000 /dev/zero | tr '\\0' a");
    backend.publish(commandsPc(pcId), JSON.stringify(encodeCommand(big)));
    const bigResult = await results.waitForMatch((m) => m.data.request_id === big.requestId, {
      timeoutMs: 15_000,
    });
    expect(bigResult.data).toMatchObject({ exit_code: 0, stdout: "" });
    expect(bigResult.data.stdout_object).toBe(`${big.requestId}/${pcId}/stdout`);
    await started.waitForMatch((m) => m.data.request_id === big.requestId);

    // A group command and a remote kill.
    const grouped = command("echo grouped");
    backend.publish(commandsGroup("wave1"), JSON.stringify(encodeCommand(grouped)));
    expect(
      (await results.waitForMatch((m) => m.data.request_id === grouped.requestId)).data,
    ).toMatchObject({ exit_code: 0, stdout: "grouped\n" });
    const sleeper = command("sleep 30");
    backend.publish(commandsPc(pcId), JSON.stringify(encodeCommand(sleeper)));
    await started.waitForMatch((m) => m.data.request_id === sleeper.requestId);
    backend.publish(killSubject(sleeper.execId ?? ""), "");
    expect(
      (await results.waitForMatch((m) => m.data.request_id === sleeper.requestId)).data,
    ).toMatchObject({ exit_code: -1 });

    // Request/reply responders answer through allow_responses.
    const ping = await backend.request(pingSubject(pcId), "", { timeout: 5_000 });
    expect(ping.json<{ machine_id?: string; pc_id: string }>().pc_id).toBe(pcId);
    const logs = await backend.request(logsFetchSubject(pcId), "{}", { timeout: 5_000 });
    expect(logs.string()).toContain("stdout");

    // The replay consumer pulled and acked everything; the inventory got out.
    const jsm = await jetstreamManager(backend);
    await waitFor(
      async () => {
        const c = await jsm.consumers.info(STREAM_EXEC, replayConsumerName(pcId));
        return c.num_pending === 0 && c.num_ack_pending === 0 && c.delivered.stream_seq >= 3;
      },
      { timeoutMs: 10_000, what: "the replay consumer to ack everything" },
    );
    await inventory.waitForCount(1, { timeoutMs: 30_000 });

    expect(await agent.stop()).toBe(0);
    expect(await roles.settledViolations()).toEqual([]);
    const complaints = agent.logs.filter((l) => /permission|authoriz/i.test(l.text));
    expect(complaints.map((l) => l.text)).toEqual([]);
  }, 60_000);

  it("refuses what an agent must never do", async () => {
    roles = await startRolesServer();
    const backend = await client("backend");
    await bootstrapKanade(backend, { resultOutput: true });
    const commandsSeen = collect(backend, "commands.>");
    const killsSeen = collect(backend, "kill.>");
    await backend.flush();
    const agent = await client("agent");
    const violationsBefore = roles.violations().length;
    const newViolation = async (re: RegExp) =>
      waitFor(
        () =>
          roles!
            .violations()
            .slice(violationsBefore)
            .some((l) => re.test(l)),
        {
          what: `a violation matching ${re}`,
          timeoutMs: 5_000,
        },
      );

    agent.publish(commandsPc("X"), JSON.stringify({ request_id: "evil" }));
    await newViolation(/Publish Violation.*"commands\.pc\.X"/);
    agent.publish(killSubject("x"), "");
    await newViolation(/Publish Violation.*"kill\.x"/);

    const kv = await new Kvm(agent).open(KV_AGENT_CONFIG);
    await expect(kv.put("global", '{"heartbeat_interval":"1s"}')).rejects.toThrow(/permission/i);
    await newViolation(/Publish Violation.*"\$KV\.agent_config\.global"/);

    const jsm = await jetstreamManager(agent);
    await expect(jsm.streams.add({ name: "EVIL", subjects: ["evil.>"] })).rejects.toThrow(
      /permission/i,
    );
    await expect(jsm.streams.delete(STREAM_RESULTS)).rejects.toThrow(/permission/i);
    await expect(jsm.streams.purge(STREAM_EXEC)).rejects.toThrow(/permission/i);
    // Other PCs' results are not the agent's to read, live or from the stream.
    await expect(
      jsm.consumers.add(STREAM_RESULTS, { ack_policy: "none" as never }),
    ).rejects.toThrow(/permission/i);
    const sub = agent.subscribe("results.>");
    await newViolation(/Subscription Violation.*"results\.>"/);
    sub.unsubscribe();
    // Publishing into a KV bucket through JetStream is refused the same way.
    await expect(jetstream(agent).publish("$KV.agent_groups.X", "{}")).rejects.toThrow(
      /permission/i,
    );

    // Nothing of it reached anyone; the backend's view is unchanged.
    await backend.flush();
    expect(commandsSeen.messages).toEqual([]);
    expect(killsSeen.messages).toEqual([]);
    const bjsm = await jetstreamManager(backend);
    const names: string[] = [];
    for await (const n of bjsm.streams.names()) names.push(n);
    expect(names).toContain(STREAM_RESULTS);
    expect(names).not.toContain("EVIL");
    expect(await (await new Kvm(backend).open(KV_AGENT_CONFIG)).get("global")).toBeNull();
  });

  it("allows the object reads of self-update and repeated uploads to result_output", async () => {
    roles = await startRolesServer();
    const backend = await client("backend");
    await bootstrapKanade(backend, { resultOutput: true });
    const release = new Uint8Array(300_000).fill(7);
    await (await new Objm(backend).open(OBJ_AGENT_RELEASES)).putBlob({ name: "9.9.9" }, release);

    const agent = await client("agent");
    const releases = await new Objm(agent).open(OBJ_AGENT_RELEASES);
    expect((await releases.info("9.9.9"))?.digest).toMatch(/^SHA-256=/);
    expect(await releases.getBlob("9.9.9")).toEqual(release);
    const output = await new Objm(agent).open(OBJ_RESULT_OUTPUT);
    for (const text of ["first", "second upload of the same key"]) {
      await output.putBlob({ name: "req-1/pc-1/stdout" }, new TextEncoder().encode(text));
    }
    expect(await roles.settledViolations()).toEqual([]);
    // Reading other PCs' output is not the agent's business; the backend reads it.
    await expect(output.getBlob("req-1/pc-1/stdout")).rejects.toThrow(/permission/i);
    const stored = await (await new Objm(backend).open(OBJ_RESULT_OUTPUT)).getBlob(
      "req-1/pc-1/stdout",
    );
    expect(new TextDecoder().decode(stored ?? undefined)).toBe("second upload of the same key");
  });

  it("gives backend and operator full rights", async () => {
    roles = await startRolesServer();
    for (const role of ["backend", "operator"] as const) {
      const nc = await client(role);
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: `S_${role}`, subjects: [`${role}.>`] });
      await jsm.streams.delete(`S_${role}`);
      nc.publish(commandsPc("X"), "{}");
      await nc.flush();
    }
    expect(await roles.settledViolations()).toEqual([]);
  });
});
