import { CommanderError, Command as Program } from "commander";
import { startDaemon } from "./daemon.js";
import { startInspection } from "./inspection.js";
import {
  ConfigError,
  describeConfig,
  discoverConfigPath,
  loadAgentConfig,
} from "./services/config/index.js";
import { DataDirError, prepareDataDir } from "./services/fs/dataDir.js";
import { createAgentLogger } from "./services/logging/agentLogger.js";
import type { LogLevel } from "./services/logging/logger.js";
import { checkSecurityAtStart } from "./services/signing/startupChecks.js";
import { AGENT_VERSION } from "./version.js";

/** Exit codes of behavior.md 1.1. */
const EXIT = { ok: 0, fatal: 1, usage: 2 } as const;

function fail(code: number, message: string): never {
  process.stderr.write(`kanade-agent: ${message}\n`);
  process.exit(code);
}

interface Args {
  config?: string;
  inspect?: string | boolean;
  inspectLog?: string;
}

function parseArgs(argv: string[]): Args {
  const program = new Program("kanade-agent")
    .description("kanade endpoint agent: runs commands from NATS JetStream and reports back")
    .version(`${AGENT_VERSION}`, "--version", "print the version and exit")
    .option("--config <file>", "agent.toml to use (else $KANADE_AGENT_CONFIG, then the OS default)")
    .option(
      "--inspect [port]",
      "serve the Stately inspector relay on 127.0.0.1 (default: a free port)",
    )
    .option(
      "--inspect-log <file>",
      "append every state machine inspection event to <file> as JSON lines",
    )
    .helpOption("-h, --help", "show this help")
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  try {
    program.parse(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version")
        process.exit(EXIT.ok);
      process.stderr.write("run `kanade-agent --help` for usage\n");
      process.exit(EXIT.usage);
    }
    throw err;
  }
  const opts = program.opts<Args>();
  if (typeof opts.inspect === "string" && !/^\d{1,5}$/.test(opts.inspect)) {
    process.stderr.write(`kanade-agent: --inspect takes a port number, got "${opts.inspect}"\n`);
    process.exit(EXIT.usage);
  }
  return opts;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv);
  const env = process.env;

  const found = discoverConfigPath({ flag: args.config, env, platform: process.platform });
  if ("error" in found) fail(EXIT.usage, found.error);
  let loaded: Awaited<ReturnType<typeof loadAgentConfig>>;
  try {
    loaded = await loadAgentConfig(found.path, {
      env,
      platform: process.platform,
    });
  } catch (err) {
    if (err instanceof ConfigError) fail(EXIT.usage, err.message);
    throw err;
  }
  const { config, warnings } = loaded;

  // config.log.level already carries a valid $KANADE_LOG_LEVEL override (behavior.md 20.2).
  const logger = createAgentLogger({
    level: config.log.level as LogLevel,
    path: config.log.path,
    keepDays: config.log.keepDays,
  });
  const log = logger.log;
  for (const w of warnings) log.warn({ file: found.path }, w);

  process.on("unhandledRejection", (reason) =>
    log.error({ err: String(reason) }, "unhandled rejection (kept running)"),
  );
  process.on("uncaughtException", (err) =>
    log.error({ err: err.message, stack: err.stack }, "uncaught exception (kept running)"),
  );

  // behavior.md 17.1 and local hardening: a bad keys file or a data dir others can write → exit 2.
  try {
    const security = await checkSecurityAtStart(config);
    for (const w of security.warnings) log.warn({ data_dir: config.dataDir }, w);
  } catch (err) {
    if (err instanceof ConfigError) fail(EXIT.usage, err.message);
    throw err;
  }

  let layout: Awaited<ReturnType<typeof prepareDataDir>>;
  try {
    layout = await prepareDataDir(config.dataDir);
  } catch (err) {
    if (err instanceof DataDirError) {
      log.fatal({ data_dir: err.path }, err.message);
      fail(
        EXIT.fatal,
        `${err.message} (check that the folder exists or can be created and is writable by this account)`,
      );
    }
    throw err;
  }

  const d = describeConfig(config);
  log.info(
    {
      version: AGENT_VERSION,
      pc_id: config.pcId,
      nats_url: d.nats_urls.join(","),
      data_dir: layout.root,
      auth: d.auth,
    },
    "kanade-agent started",
  );

  const inspect = await startInspection(args, log);
  let stopping = false;
  let daemon: Awaited<ReturnType<typeof startDaemon>> | undefined;
  // behavior.md §18: one stop sequence for a signal and for a self-update restart (exit 64).
  const shutdown = (reason: Record<string, unknown>) => {
    // 18.3: a second signal during the stop sequence exits at once.
    if (stopping) process.exit(daemon?.exitCode ?? EXIT.ok);
    stopping = true;
    log.info(reason, "stopping");
    const hard = setTimeout(() => {
      log.warn("stop sequence overran 5 s; exiting");
      process.exit(daemon?.exitCode ?? EXIT.ok);
    }, 4_900);
    hard.unref();
    void (daemon?.stop() ?? Promise.resolve(EXIT.ok)).then((code) => {
      log.info({ exit_code: code }, "stopped");
      inspect?.close();
      logger.close();
      process.exit(code);
    });
  };
  daemon = await startDaemon({
    config,
    layout,
    log,
    inspect: inspect?.observe,
    requestExit: (code) => shutdown({ restart: true, exit_code: code }),
  });
  process.on("SIGINT", (signal) => shutdown({ signal }));
  process.on("SIGTERM", (signal) => shutdown({ signal }));
}

main().catch((err: unknown) => {
  fail(EXIT.fatal, err instanceof Error ? err.message : String(err));
});
