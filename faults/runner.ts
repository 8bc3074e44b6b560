// `npm run faults [-- --seed N --repeat N --only name]`: runs the scenarios against the built
// agent and prints one row per run; exits 1 when any promise was broken.

import { CommanderError } from "commander";
import { buildAgent, buildIsStale } from "../test/helpers/agentProcess.js";
import { parseRunnerArgs } from "./args.js";
import { runScenario } from "./run.js";
import { ALL_SCENARIOS } from "./scenarios/index.js";
import { formatDetails, formatMs, formatTable, type ScenarioRow } from "./table.js";

/** The scenarios run `bin/kanade-agent.js`, i.e. what `npm run build` made: rebuild it if stale. */
function ensureFreshBuild(): void {
  if (!buildIsStale()) return;
  process.stderr.write("faults: dist/ is missing or older than src/, building…\n");
  buildAgent();
}

async function main(): Promise<number> {
  let args: ReturnType<typeof parseRunnerArgs>;
  try {
    args = parseRunnerArgs(process.argv.slice(2), Math.floor(Math.random() * 1_000_000));
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    throw err;
  }
  if (args.list) {
    for (const s of ALL_SCENARIOS)
      console.log(`${s.name.padEnd(36)} ${s.fast ? "[fast] " : "       "}${s.description}`);
    return 0;
  }
  const unknown = args.only.filter((n) => !ALL_SCENARIOS.some((s) => s.name === n));
  if (unknown.length > 0) {
    console.error(`faults: unknown scenario(s): ${unknown.join(", ")} (see --list)`);
    return 2;
  }
  const chosen = ALL_SCENARIOS.filter((s) => args.only.length === 0 || args.only.includes(s.name));
  if (!process.env.FAULTS_AGENT_ENTRY) ensureFreshBuild();
  console.log(
    `faults: ${chosen.length} scenario(s) × ${args.repeat}, seed ${args.seed}, ${args.fast ? "fast" : "full"} scale`,
  );
  const rows: ScenarioRow[] = [];
  const t0 = Date.now();
  for (let repeat = 0; repeat < args.repeat; repeat++) {
    for (const s of chosen) {
      const row = await runScenario(s, {
        seed: args.seed,
        repeat,
        scale: args.fast ? "fast" : "full",
        progress: args.verbose ? (l) => console.log(`  ${l}`) : undefined,
        keepLogs: args.keepLogs,
      });
      rows.push(row);
      console.log(
        `  ${row.broken.length === 0 ? "ok    " : "BROKEN"} ${row.scenario} (${formatMs(row.durationMs)})`,
      );
    }
  }
  console.log(`\n${formatTable(rows)}\n`);
  const details = formatDetails(rows);
  if (details !== "") console.log(`${details}\n`);
  const broken = rows.filter((r) => r.broken.length > 0).length;
  console.log(
    `${rows.length - broken} kept, ${broken} broken; ${formatMs(Date.now() - t0)} in all (replay: --seed ${args.seed})`,
  );
  return broken > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
