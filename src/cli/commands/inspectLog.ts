// `kanade inspect-log summarize <file>`: the state changes of every actor in an agent's
// `--inspect-log` file, in order, for offline diagnosis.
import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { summarizeInspectLog } from "../../services/inspect/inspectLog.js";
import { formatTimestamp } from "../../services/wire/timestamp.js";
import type { CliContext, Runner } from "../context.js";
import { CliError, EXIT } from "../errors.js";

export function registerInspectLog(program: Command, run: Runner): void {
  program
    .command("inspect-log")
    .description("read an agent's --inspect-log file")
    .command("summarize")
    .description("per actor, its state transitions with timestamps")
    .argument("<file>", "the file written by kanade-agent --inspect-log")
    .option("--actor <text>", "only actors whose path contains this text")
    .action((file: string, opts: { actor?: string }, cmd: Command) =>
      run(cmd, (ctx) => summarize(ctx, file, opts.actor)),
    );
}

async function summarize(ctx: CliContext, file: string, filter?: string): Promise<number> {
  const text = await readFile(file, "utf8").catch((err: unknown) => {
    throw new CliError(
      EXIT.failed,
      `cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`,
    );
  });
  const summary = summarizeInspectLog(text.split("\n"));
  for (const [actor, changes] of summary) {
    if (filter && !actor.includes(filter)) continue;
    if (ctx.json) {
      ctx.printJson({
        actor,
        transitions: changes.map((c) => ({ at: formatTimestamp(c.t), value: c.value })),
      });
      continue;
    }
    ctx.print(actor);
    for (const c of changes) ctx.print(`  ${formatTimestamp(c.t)}  ${c.value}`);
  }
  return EXIT.ok;
}
