import { defineScenario } from "../dsl.js";
import { sampleIndices } from "../random.js";

export const commandStorm = defineScenario(
  "storm-with-duplicates",
  async (s) => {
    await s.startBroker();
    await s.startAgent("pc-a");
    const n = s.size(200, 5_000);
    // 10 % of the commands are sent twice; the copy follows its original 0–50 messages later.
    const copies = new Map<number, number[]>();
    for (const i of sampleIndices(s.random, n, Math.round(n / 10))) {
      const at = Math.min(n - 1, i + s.between(0, 50));
      copies.set(at, [...(copies.get(at) ?? []), i]);
    }
    const rids: string[] = [];
    for (let i = 0; i < n; i++) {
      // Core publishes in a burst, as a backend fanning out would; flushed every 100.
      rids.push(await s.publishCommand({ pc: "pc-a" }, "true", { via: "core", flush: false }));
      for (const j of copies.get(i) ?? [])
        await s.republish(rids[j]!, { via: "core", flush: false });
      if (i % 100 === 99) await s.flush();
    }
    await s.flush();
    await s.expectResults({ exactlyOnce: rids }, s.size(120_000, 900_000));
    await s.expectAgentAlive();
  },
  {
    fast: true,
    description: "a burst of commands (5 000 at full scale) with 10 % duplicates: each runs once",
    timeoutMs: 1_200_000,
  },
);
