import { defineScenario } from "../dsl.js";

export const outboxFull = defineScenario(
  "outbox-full",
  async (s) => {
    await s.startBroker();
    await s.startAgent("pc-a");
    const fill = await s.fillDisk("pc-a");
    s.note(`outbox made full by ${fill.mode}`);
    const rids: string[] = [];
    for (let i = 0; i < s.size(2, 4); i++)
      rids.push(await s.publishCommand({ pc: "pc-a" }, "echo result-needs-space"));
    await s.waitFor({ executed: rids.length });
    // The results cannot be written for a while; the agent must neither lose nor re-run them.
    await s.sleep(s.between(2_000, 5_000));
    await fill.release();
    const after = await s.publishCommand({ pc: "pc-a" }, "true");
    await s.expectResults({ exactlyOnce: [...rids, after] }, s.size(10_000, 60_000));
    await s.expectAgentAlive();
  },
  {
    fast: true,
    description: "outbox/ full (ENOSPC) while results are written; space back: each result once",
  },
);
