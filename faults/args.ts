import { Command, InvalidArgumentError } from "commander";

export interface RunnerArgs {
  seed: number;
  repeat: number;
  /** Scenario names to run; empty = all. */
  only: string[];
  /** Run at `fast` scale (the sizes of the `npm test` subset). */
  fast: boolean;
  list: boolean;
  /** Print each step as it happens. */
  verbose: boolean;
  /** Save the agents' logs of every run, not only of a broken one. */
  keepLogs: boolean;
}

function positiveInt(what: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0)
      throw new InvalidArgumentError(`${what} must be an integer ≥ 0`);
    return n;
  };
}

/** `npm run faults -- [--seed N] [--repeat N] [--only a,b] [--fast] [--list] [--verbose] [--keep-logs]`. */
export function parseRunnerArgs(argv: readonly string[], defaultSeed: number): RunnerArgs {
  const program = new Command("faults")
    .description("Scripted fault-injection scenarios against the real agent and nats-server")
    .option("--seed <n>", "base seed for every random timing", positiveInt("--seed"), defaultSeed)
    .option("--repeat <n>", "runs of each scenario", positiveInt("--repeat"), 1)
    .option(
      "--only <names>",
      "comma-separated scenario names (repeatable)",
      (v: string, prev: string[]) => [...prev, ...v.split(",").filter((x) => x !== "")],
      [] as string[],
    )
    .option("--fast", "fast-subset sizes", false)
    .option("--list", "list the scenarios and exit", false)
    .option("-v, --verbose", "print every step", false)
    .option("--keep-logs", "save the agents' logs of every run under .tmp/faults-logs/", false)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  program.parse([...argv], { from: "user" });
  const o = program.opts<{
    seed: number;
    repeat: number;
    only: string[];
    fast: boolean;
    list: boolean;
    verbose: boolean;
    keepLogs: boolean;
  }>();
  return {
    seed: o.seed,
    repeat: Math.max(1, o.repeat),
    only: o.only,
    fast: o.fast,
    list: o.list,
    verbose: o.verbose,
    keepLogs: o.keepLogs,
  };
}
