import { defineScenario } from "../dsl.js";

export const outboxFull = defineScenario(
  "outbox-full",
  async (s) => {
    await s.startBroker();
    await s.startAgent("pc-a");
    const fill = await s.fillDisk("pc-a");
    s.note(`outbox made full by ${fill.mode}`);
    const rids: string[] = [];
    // They finish while the broker is down: the results the ledger holds must go to outbox/,
    // which has no space.
    for (let i = 0; i < s.size(2, 4); i++)
      rids.push(await s.publishCommand({ pc: "pc-a" }, "sleep 1; echo result-needs-space"));
    await s.waitFor({ executed: rids.length });
    await s.killBroker();
    // The results cannot be written for a while; the agent must neither lose nor re-run them.
    await s.sleep(s.between(2_000, 5_000));
    await fill.release();
    await s.restartBroker();
    const after = await s.publishCommand({ pc: "pc-a" }, "true");
    await s.expectResults({ exactlyOnce: [...rids, after] }, s.size(10_000, 60_000));
    await s.expectAgentAlive();
  },
  {
    fast: true,
    description:
      "outbox/ full (ENOSPC) while results wait for a broker that is down; space and broker back: each result once",
  },
);
