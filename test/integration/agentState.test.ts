import { randomUUID } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bootstrapKanade } from "../../src/services/nats/resources.js";
import { encodeCommand } from "../../src/services/wire/index.js";
import { AgentProcess } from "../helpers/agentProcess.js";
import { NatsServer } from "../helpers/natsServer.js";
import { collect, waitFor } from "../helpers/waitFor.js";

const PC = "PC-STATE";

describe("agents.<pc_id>.state and the command actor tree", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let agent: AgentProcess;

  beforeAll(async () => {
    server = await NatsServer.start();
    nc = await connect({ servers: server.url });
    await bootstrapKanade(nc, { resultOutput: true });
    agent = await AgentProcess.start({ natsUrl: server.url, id: PC });
    await agent.waitForLog({ msg: "replay consumer ready" }, 15_000);
  });
  afterAll(async () => {
    await agent?.stop().catch(() => {});
    await nc?.close();
    await server?.stop();
  });

  const state = async () =>
    JSON.parse((await nc.request(`agents.${PC}.state`, "", { timeout: 3_000 })).string());

  it("replies a snapshot of every actor, the outbox and the ledger", async () => {
    // "replay consumer ready" comes just before the durable's unacked commands are read back.
    await waitFor(async () => (await state()).actors.replay === "draining", {
      what: "the replay chart to reach draining",
    });
    const s = await state();
    expect(s.pc_id).toBe(PC);
    expect(s.connected).toBe(true);
    expect(s.actors.agent).toBe("running");
    expect(s.actors.connection).toBe("open.connected.healthy");
    expect(s.actors.replay).toBe("draining");
    expect(s.commands).toEqual({ live: 0, running: 0, waiting_for_slot: 0 });
    expect(s.outbox).toEqual({ results: expect.any(Number), events: expect.any(Number) });
    expect(s.ledger.records).toBeGreaterThanOrEqual(0);
  });

  it("the number of live command actors returns to its baseline after 200 commands", async () => {
    const before = await state();
    const results = collect(nc, "results.>");
    const ids: string[] = [];
    for (let i = 0; i < 200; i++) {
      const requestId = randomUUID();
      ids.push(requestId);
      const cmd = {
        id: "m",
        version: "1",
        requestId,
        execId: null,
        shell: "sh" as const,
        script: "true",
        timeoutSecs: 10,
        jitterSecs: null,
        runAs: "system" as const,
        staleness: { mode: "cached" as const },
      };
      nc.publish(`commands.pc.${PC}`, JSON.stringify(encodeCommand(cmd)));
    }
    await results.waitForCount(200, { timeoutMs: 60_000 });
    await waitFor(async () => (await state()).commands.live === before.commands.live, {
      timeoutMs: 10_000,
      what: "command actors gone",
    });
    const after = await state();
    expect(Object.keys(after.actors).filter((k) => k.startsWith("command#"))).toEqual([]);
    expect(after.ledger.records).toBe(before.ledger.records + 200);
    expect(after.ledger.unfinished).toBe(0);
    results.stop();
  }, 90_000);
});
