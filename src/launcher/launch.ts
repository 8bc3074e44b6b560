// The launcher (behavior.md 1.9 step 1, 15.9): before any code of a staged release runs, choose
// the release, count an unconfirmed boot or roll back, clean the staging folder, then run the
// chosen release in this same process by importing its entry. Signals, stdio and the exit code
// stay the process's own, so the launcher needs no forwarding and no network.

import { pathToFileURL } from "node:url";
import { type AgentConfig, discoverConfigPath, loadAgentConfig } from "../services/config/index.js";
import { dataDirLayout } from "../services/fs/dataDir.js";
import { createAgentLogger } from "../services/logging/agentLogger.js";
import type { Logger, LogLevel } from "../services/logging/logger.js";
import { cleanStaging } from "../services/selfupdate/cleanup.js";
import { keptReleases, type LaunchEvent } from "../services/selfupdate/sentinel.js";
import { type StagingLayout, stagingLayout } from "../services/selfupdate/stagingLayout.js";
import { AGENT_VERSION } from "../version.js";
import { scanArgs } from "./args.js";
import { chooseRelease, type LaunchChoice } from "./choose.js";
import { supervise } from "./supervise.js";

export interface LaunchOptions {
  /** process.argv */
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
}

/** Runs the launcher; returns once the chosen entry module has been imported (or exits). */
export async function launch(o: LaunchOptions): Promise<void> {
  const args = scanArgs(o.argv.slice(2));
  if (args.supervise) {
    const code = await supervise({ entry: o.argv[1] ?? "", args: args.forChild });
    process.exit(code);
  }
  // Help and usage errors come from the base install; they need no config and no release.
  if (args.help) return runBase();

  const config = await tryLoadConfig(args.config, o.env);
  if (config === null) {
    if (args.version) return printVersion(AGENT_VERSION);
    // The base install reports the discovery or config error itself (exit 2).
    return runBase();
  }
  const staging = stagingLayout(dataDirLayout(config.dataDir).staging);

  if (args.version) {
    // The version that a start would run, without counting a boot or changing anything.
    const choice = await chooseRelease(staging, { persist: false }).catch(() => null);
    return printVersion(choice?.version ?? AGENT_VERSION);
  }

  const launcherLog = lazyLogger(config);
  let choice: LaunchChoice;
  try {
    choice = await prepare(staging, launcherLog);
  } catch (err) {
    // The base install is always runnable: a launcher failure must not keep the agent down.
    launcherLog().error(
      { err: (err as Error).message },
      "launcher could not choose a release; running the base install",
    );
    launcherLog.close();
    return runBase();
  }
  launcherLog.close();

  if (choice.version === null || choice.entry === null) return runBase();
  try {
    await import(pathToFileURL(choice.entry).href);
  } catch (err) {
    // A release that throws while loading is a crash: the boot count (15.9) catches the loop.
    const log = lazyLogger(config);
    log().fatal(
      { version: choice.version, err: (err as Error).message, stack: (err as Error).stack },
      "release failed to start",
    );
    log.close();
    process.exit(1);
  }
}

async function prepare(staging: StagingLayout, log: () => Logger): Promise<LaunchChoice> {
  const choice = await chooseRelease(staging, { persist: true });
  if (choice.stateProblem !== null)
    log().error({ problem: choice.stateProblem }, "release state unusable; treated as empty");
  if (choice.persistProblem !== null)
    log().error({ problem: choice.persistProblem }, "could not record the release state");
  for (const e of choice.plan.events) logEvent(log, e);
  const cleaned = await cleanStaging(staging, keptReleases(choice.plan.state));
  if (cleaned.removed.length > 0)
    log().info({ removed: cleaned.removed.slice(0, 20) }, "old release files deleted");
  for (const f of cleaned.failures.slice(0, 20))
    log().warn({ path: f.path, reason: f.reason }, "could not delete old release files");
  return choice;
}

async function runBase(): Promise<void> {
  // A literal path: the base bundle (dist/kanade-agent.mjs) carries the daemon inside it.
  await import("../main.js");
}

function printVersion(version: string): void {
  process.stdout.write(`${version}\n`);
  process.exit(0);
}

async function tryLoadConfig(
  flag: string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<AgentConfig | null> {
  const found = discoverConfigPath({ flag, env, platform: process.platform });
  if (!found.ok) return null;
  try {
    return (await loadAgentConfig(found.path, { env, platform: process.platform })).config;
  } catch {
    // Whatever is wrong, the daemon itself reports it (ConfigError → exit 2).
    return null;
  }
}

/** The agent's own log (file and stdout), opened only when the launcher has something to say. */
function lazyLogger(config: AgentConfig): (() => Logger) & { close(): void } {
  let opened: ReturnType<typeof createAgentLogger> | undefined;
  const get = () => {
    opened ??= createAgentLogger({
      level: config.log.level as LogLevel,
      path: config.log.path,
      keepDays: config.log.keepDays,
    });
    return opened.log.child({ component: "launcher" });
  };
  return Object.assign(get, { close: () => opened?.close() });
}

function logEvent(log: () => Logger, e: LaunchEvent): void {
  switch (e.kind) {
    case "rolledBack":
      log().error(
        { version: e.from, rolled_back_to: e.to ?? "base install", boots: e.boots },
        "release never confirmed its health; rolled back and quarantined",
      );
      return;
    case "missing":
      log().warn({ version: e.version }, "release folder missing or damaged; not running it");
      return;
    case "strayPending":
      log().warn({ version: e.version }, "pending release is not the current one; cleared");
      return;
    case "unconfirmedBoot":
      log().info(
        { version: e.version, boots: e.boots },
        "starting a release that has not yet confirmed its health",
      );
      return;
  }
}
