// The `kanade` command tree and one run of it: parse, dispatch, map every outcome to an exit
// code and a one-line message. No process globals here, so tests can run it in-process.
import { Command, CommanderError } from "commander";
import { AGENT_VERSION } from "../version.js";
import { registerAgentReleases } from "./commands/agent.js";
import { registerAgentGroups } from "./commands/agentGroups.js";
import { registerAgents } from "./commands/agents.js";
import { registerConfig } from "./commands/config.js";
import { registerInspectLog } from "./commands/inspectLog.js";
import { registerJetstream } from "./commands/jetstream.js";
import { registerKeys } from "./commands/keys.js";
import { registerKill } from "./commands/kill.js";
import { registerAgentState, registerPing } from "./commands/ping.js";
import { registerRun } from "./commands/run.js";
import { DEFAULT_NATS_URL, NATS_TOKEN_ENV, NATS_URL_ENV } from "./connect.js";
import { createContext, type GlobalOptions, type Runner } from "./context.js";
import { CliError, EXIT, oneLine } from "./errors.js";
import type { CliIo } from "./io.js";

const EXIT_CODES_HELP = `
\`kanade --version\` prints the version.

Environment:
  ${NATS_URL_ENV}     broker URL(s) when --nats is not given (default ${DEFAULT_NATS_URL})
  ${NATS_TOKEN_ENV}   token for the broker

Exit codes:
  0  ok
  1  the operation failed
  2  usage error
  3  cannot connect to NATS (5 s timeout)
  run: the script's exit code (0–255, else 1); 119 no result in time; 130 Ctrl-C`;

export function buildProgram(io: CliIo, run: Runner): Command {
  const program = new Command("kanade")
    .description("operator CLI for kanade agents: talks to the NATS broker directly")
    .option(
      "--nats <url>",
      `NATS URL, or several comma-separated (default: $${NATS_URL_ENV} or ${DEFAULT_NATS_URL})`,
    )
    .option("--json", "machine-readable output: one JSON document per line on stdout")
    .helpOption("-h, --help", "show help")
    .helpCommand("help [command]", "show help for a command")
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: (s, write) =>
        write(`kanade: ${oneLine(s.replace(/^error: /, ""))} (see --help)\n`),
    })
    .addHelpText("after", EXIT_CODES_HELP);

  registerJetstream(program, run);
  registerRun(program, run);
  registerPing(program, run);
  registerKill(program, run);
  registerAgents(program, run);

  const agent = program.command("agent").description("agent releases, rollouts, groups and state");
  registerAgentReleases(agent, run);
  registerAgentGroups(agent, run);
  registerAgentState(agent, run);

  registerConfig(program, run);
  registerInspectLog(program, run);
  registerKeys(program, run);
  return program;
}

/** Runs `kanade <argv…>` and resolves with the exit code; never throws. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let exitCode: number = EXIT.ok;
  const run: Runner = async (cmd, body) => {
    const ctx = createContext(io, cmd.optsWithGlobals<GlobalOptions>());
    exitCode = await body(ctx);
  };
  const program = buildProgram(io, run);
  try {
    if (argv.length === 0) {
      io.stderr.write(program.helpInformation());
      return EXIT.usage;
    }
    // Not a commander option: `agent publish --version <v>` must stay free for the subcommand.
    if (argv.length === 1 && argv[0] === "--version") {
      io.stdout.write(`${AGENT_VERSION}\n`);
      return EXIT.ok;
    }
    await program.parseAsync([...argv], { from: "user" });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and --version are successes; everything else commander throws is a usage error.
      return err.code === "commander.helpDisplayed" ? EXIT.ok : EXIT.usage;
    }
    if (err instanceof CliError) {
      io.stderr.write(`kanade: ${oneLine(err)}\n`);
      return err.exitCode;
    }
    io.stderr.write(`kanade: ${oneLine(err)}\n`);
    return EXIT.failed;
  }
}
