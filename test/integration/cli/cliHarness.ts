// Running the operator CLI in tests: in-process through `runCli` with captured output, or as the
// installed child process `node bin/kanade.js` (built on demand when dist/ is older than src/).
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, rmdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { CliIo } from "../../../src/cli/io.js";
import { runCli } from "../../../src/cli/program.js";
import { systemClock } from "../../../src/services/time/clock.js";
import { REPO_ROOT } from "../../helpers/agentProcess.js";
import { killAtExit } from "../../helpers/tmp.js";
import { sleep } from "../../helpers/waitFor.js";

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface InProcessCli {
  /** Output so far (grows while `done` is pending). */
  readonly stdout: string;
  readonly stderr: string;
  done: Promise<CliRun>;
}

/** Starts `kanade <args…>` in this process; `signal` plays Ctrl-C. */
export function startCli(
  args: string[],
  opts: { env?: Record<string, string | undefined>; signal?: AbortSignal } = {},
): InProcessCli {
  let stdout = "";
  let stderr = "";
  const io: CliIo = {
    stdout: {
      write: (s) => {
        stdout += s;
      },
    },
    stderr: {
      write: (s) => {
        stderr += s;
      },
    },
    stdoutIsTTY: false,
    stderrIsTTY: false,
    env: opts.env ?? {},
    clock: systemClock,
    newId: () => randomUUID(),
    signal: opts.signal ?? new AbortController().signal,
  };
  const done = runCli(args, io).then((code) => ({ code, stdout, stderr }));
  return {
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    done,
  };
}

/** `kanade <args…>` in-process, against `natsUrl` when given. */
export function cli(natsUrl: string | undefined, ...args: string[]): Promise<CliRun> {
  return startCli(natsUrl === undefined ? args : ["--nats", natsUrl, ...args]).done;
}

/** The last line of stdout parsed as JSON (what --json prints). */
export function jsonOut<T = Record<string, unknown>>(run: CliRun): T {
  const lines = run.stdout.trim().split("\n");
  return JSON.parse(lines.at(-1) ?? "null") as T;
}

const CLI_BIN = join(REPO_ROOT, "bin", "kanade.js");
const CLI_DIST = join(REPO_ROOT, "dist", "cli", "main.js");
/** What the CLI is compiled from (the folders it imports). */
const CLI_SOURCES = [
  "src/cli",
  "src/services/wire",
  "src/services/nats",
  "src/services/kv",
  "src/services/config",
  "src/services/time",
];

/** `node bin/kanade.js <args…>` as a child process; env replaces KANADE_* of the runner's. */
export function cliProcess(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<CliRun> {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("KANADE_")),
  );
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [CLI_BIN, ...args],
      { env: { ...base, ...env }, timeout: timeoutMs, encoding: "utf8" },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== "number") {
          reject(new Error(`kanade ${args.join(" ")}: ${err.message}\n${stderr}`));
          return;
        }
        resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
      },
    );
  });
}

/** Like `cliProcess`, but the child is handed back so the test can signal it. */
export function spawnCli(args: string[]): { process: ChildProcess; done: Promise<CliRun> } {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("KANADE_")),
  );
  const child = spawn(process.execPath, [CLI_BIN, ...args], { env: base, stdio: "pipe" });
  killAtExit(child);
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
  });
  const done = new Promise<CliRun>((resolve) => {
    child.once("close", (code, signal) =>
      resolve({ code: code ?? (signal ? -1 : 0), stdout, stderr }),
    );
  });
  return { process: child, done };
}

function newestMtime(path: string): number {
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  let newest = 0;
  for (const name of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, name)));
  return newest;
}

/**
 * Builds dist/ when dist/cli/main.js is missing or older than the sources the CLI is made of.
 * The lock folder is the one the agent's build helper uses, so two builds never overlap.
 */
export async function ensureCliBuilt(timeoutMs = 180_000): Promise<void> {
  const stale = () =>
    !existsSync(CLI_DIST) ||
    statSync(CLI_DIST).mtimeMs <
      Math.max(...CLI_SOURCES.map((p) => newestMtime(join(REPO_ROOT, p))));
  if (!stale()) return;
  mkdirSync(join(REPO_ROOT, ".tmp"), { recursive: true });
  const lock = join(REPO_ROOT, ".tmp", "dist-build.lock");
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`timed out waiting for build lock ${lock}`);
      await sleep(200);
    }
  }
  try {
    if (!stale()) return;
    try {
      execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], {
        cwd: REPO_ROOT,
        stdio: "pipe",
        timeout: timeoutMs,
      });
    } catch (err) {
      // tsc still emits when other files have type errors; only a missing entry is fatal.
      if (!existsSync(CLI_DIST)) throw new Error(`building the CLI failed: ${String(err)}`);
    }
  } finally {
    rmdirSync(lock);
  }
}
