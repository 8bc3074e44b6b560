// `npm run bench`: every benchmark in turn, each printing its figures and ratios against a floor
// measured in the same run. Pass `--quick` for shorter runs (smoke test of the benchmarks).
import { spawnSync } from "node:child_process";

const quick = process.argv.includes("--quick");
const benches: [string, string[]][] = [
  ["bench/dedup.bench.ts", []],
  ["bench/commands.bench.ts", quick ? ["--round-trips", "30", "--burst", "100"] : []],
  ["bench/agentIdle.bench.ts", quick ? ["--duration", "10"] : ["--duration", "60"]],
  ["bench/idle.bench.ts", quick ? ["--duration", "5"] : ["--duration", "20"]],
  ["bench/inventory.bench.ts", []],
];

let failed = 0;
for (const [file, args] of benches) {
  console.log(`\n== ${file} ${args.join(" ")}`);
  const r = spawnSync(process.execPath, ["--import", "tsx", file, ...args], { stdio: "inherit" });
  if (r.status !== 0) failed++;
}
process.exit(failed > 0 ? 1 : 0);
