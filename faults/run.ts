import { withTimeout } from "../test/helpers/waitFor.js";
import { ScenarioRun } from "./context.js";
import type { Scenario } from "./dsl.js";
import { runSeed, seededRandom } from "./random.js";
import type { ScenarioRow } from "./table.js";

export interface RunOptions {
  /** Base seed; each scenario run derives its own from it, the name and the repeat index. */
  seed: number;
  /** Repeat index (0 for the first run). */
  repeat?: number;
  scale: "fast" | "full";
  /** Progress lines (steps, faults, heals) as they happen. */
  progress?: (line: string) => void;
  /** Save the agents' logs even when every promise was kept. */
  keepLogs?: boolean;
}

/**
 * Runs one scenario to the end and returns its table row. Never throws: an error or a timeout
 * becomes a broken promise in the row, and everything the run started is stopped.
 */
export async function runScenario(scenario: Scenario, opts: RunOptions): Promise<ScenarioRow> {
  const seed = runSeed(opts.seed, scenario.name, opts.repeat ?? 0);
  const run = new ScenarioRun({
    name: scenario.name,
    seed,
    random: seededRandom(seed),
    scale: opts.scale,
    progress: opts.progress,
    keepLogs: opts.keepLogs,
  });
  const limit = opts.scale === "fast" ? Math.ceil(scenario.timeoutMs / 3) : scenario.timeoutMs;
  try {
    await withTimeout(scenario.run(run), limit, `scenario ${scenario.name} to end`);
  } catch (err) {
    run.fail(err);
  }
  return run.finish();
}
