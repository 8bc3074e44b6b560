// The fast subset of the fault scenarios (faults/scenarios/): real nats-server nodes, the real
// agent, real faults. `npm run faults` runs them all at full scale and prints the table.
import { beforeAll, describe, expect, it } from "vitest";
import { runScenario } from "../../faults/run.js";
import { FAST_SCENARIOS } from "../../faults/scenarios/index.js";
import { formatDetails, formatTable } from "../../faults/table.js";
import { ensureAgentBuilt } from "../helpers/agentProcess.js";

/**
 * Scenarios that find a promise the agent does not keep yet. They run as `it.fails`, so the
 * suite stays green and turns red the day the agent is fixed: then move them out of this list.
 * (Empty: outbox-full was here until the reporter retried failed result writes.)
 */
const KNOWN_BROKEN = new Set<string>([]);

beforeAll(async () => {
  await ensureAgentBuilt();
}, 180_000);

describe("fault scenarios, fast subset", () => {
  for (const scenario of FAST_SCENARIOS) {
    const test = KNOWN_BROKEN.has(scenario.name) ? it.fails : it;
    test(
      `${scenario.name}: ${scenario.description}`,
      async () => {
        const row = await runScenario(scenario, { seed: 20_260_516, scale: "fast" });
        const table = `${formatTable([row])}\n${formatDetails([row])}`;
        expect(row.broken, table).toEqual([]);
        expect(row.lost, table).toBe(0);
        expect(row.duplicates, table).toBe(0);
        expect(row.orphans, table).toBe(0);
        expect(row.received, table).toBeGreaterThan(0);
      },
      Math.ceil(scenario.timeoutMs / 3) + 30_000,
    );
  }
});
