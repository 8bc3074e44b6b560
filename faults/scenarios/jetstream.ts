import { defineScenario } from "../dsl.js";

export const consumerDeletedDuringReplay = defineScenario(
  "consumer-deleted-during-replay",
  async (s) => {
    await s.startBroker();
    // EXEC keeps one command per subject: many retained commands for one PC need many subjects,
    // so the PC is in one group per command.
    const n = s.size(60, 500);
    const groups = Array.from({ length: n }, (_, i) => `g${String(i).padStart(4, "0")}`);
    const rids: string[] = [];
    for (const g of groups) rids.push(await s.publishCommand({ group: g }, "true"));
    // Retained while no agent ran; the new durable (last_per_subject) replays all of them.
    await s.startAgent("pc-a", { groups, waitReady: false });
    await s.waitFor({ executed: s.between(Math.floor(n / 10), Math.floor(n / 3)) }, 60_000);
    await s.deleteConsumer("pc-a");
    await s.expectResults({ exactlyOnce: rids }, s.size(60_000, 240_000));
    await s.expectAgentAlive();
  },
  {
    fast: true,
    description: "durable deleted while replaying retained commands: re-created, each run once",
    timeoutMs: 420_000,
  },
);

export const streamDeletedRecreated = defineScenario(
  "stream-deleted-recreated",
  async (s) => {
    await s.startBroker();
    await s.startAgent("pc-a");
    const before = await s.publishCommand({ pc: "pc-a" }, "true");
    await s.waitFor({ result: before });
    await s.deleteStream("EXEC");
    await s.deleteStream("RESULTS");
    await s.sleep(s.between(200, 1_500));
    // Without EXEC only the live subscription can carry it; its result has no stream to go to
    // and must wait in the outbox.
    const whileMissing = await s.publishCommand({ pc: "pc-a" }, "true", { via: "core" });
    await s.waitFor({ running: whileMissing });
    await s.sleep(s.between(1_000, 3_000));
    await s.recreateResources();
    const after = await s.publishCommand({ pc: "pc-a" }, "true");
    await s.expectResults({ exactlyOnce: [before, whileMissing, after] });
    await s.expectAgentAlive();
  },
  {
    fast: true,
    description: "EXEC and RESULTS deleted and re-created: results wait, durable comes back",
  },
);
