import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, rmdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "smol-toml";
import { NODE_FLAGS } from "../../src/launcher/nodeFlags.js";
import { BASE_BUNDLE_ENTRY } from "../../src/services/selfupdate/releasePackage.js";
import { killAtExit, tempDir } from "./tmp.js";
import { sleep } from "./waitFor.js";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const AGENT_BIN = join(REPO_ROOT, "bin", "kanade-agent.js");
/** What `bin/kanade-agent.js` runs: the last file `npm run build` writes. */
const BASE_BUNDLE = join(REPO_ROOT, BASE_BUNDLE_ENTRY);
const MAX_LOG_LINES = 50_000;

export interface LogLine {
  /** Position in the whole output of this process, from 0; stable when old lines are dropped. */
  seq: number;
  stream: "stdout" | "stderr";
  text: string;
  /** The parsed line when it is a JSON object (pino: level, time, msg, fields). */
  json: Record<string, unknown> | undefined;
}

/** A predicate on a line, or fields a JSON line must have (`RegExp` values are tested). */
export type LogMatcher = ((line: LogLine) => boolean) | Record<string, unknown>;

export interface AgentExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface AgentProcessOptions {
  /** `[agent] nats_url`. */
  natsUrl?: string | string[];
  /** `[agent] id`; a random `test-pc-…` by default. */
  id?: string;
  /** More `[agent]` keys, e.g. `{ groups: ["x"] }`. */
  agent?: Record<string, unknown>;
  /** More `[log]` keys; `keep_days = 0` (stdout only) unless overridden. */
  log?: Record<string, unknown>;
  /** Raw TOML appended to the file (other sections, e.g. `[signing]`). */
  extraToml?: string;
  /** `[agent] data_dir`; `<dir>/data` by default. */
  dataDir?: string;
  /** Folder for the config and data dir; a fresh temp dir by default. */
  dir?: string;
  /**
   * Environment on top of the test runner's, where `undefined` removes a variable. Inherited
   * `KANADE_*` variables are dropped so that the runner's shell cannot change the agent.
   */
  env?: Record<string, string | undefined>;
  /** Command-line arguments instead of `--config <file>` (e.g. `["--version"]`). */
  args?: string[];
  /** Appended after the default `--config <file>` (e.g. `--inspect`). */
  extraArgs?: string[];
  /** Script run with `node`; the installed entry point `bin/kanade-agent.js` by default. */
  entry?: string;
}

/**
 * The built agent as a real child process, with its config in a temp folder and every output line
 * kept for assertions. Stop it in `afterEach` (`kill()` never throws); a worker-exit hook kills any
 * that a test forgot.
 */
export class AgentProcess {
  readonly pcId: string;
  readonly dir: string;
  readonly dataDir: string;
  readonly configPath: string;
  readonly #opts: AgentProcessOptions;
  #child: ChildProcess | undefined;
  #exit: AgentExit | undefined;
  #exited: Promise<AgentExit> | undefined;
  #logs: LogLine[] = [];
  #seq = 0;
  readonly #waiters = new Set<{ check: (l: LogLine) => void; exit: (e: AgentExit) => void }>();

  constructor(opts: AgentProcessOptions = {}) {
    this.#opts = opts;
    this.pcId = opts.id ?? `test-pc-${randomUUID().slice(0, 8)}`;
    this.dir = opts.dir ?? tempDir("kanade-agent-");
    this.dataDir = opts.dataDir ?? join(this.dir, "data");
    this.configPath = join(this.dir, "agent.toml");
    this.writeConfig();
  }

  /** Constructs and starts in one step. */
  static async start(opts: AgentProcessOptions = {}): Promise<AgentProcess> {
    const agent = new AgentProcess(opts);
    await agent.start();
    return agent;
  }

  /** (Re)writes `agent.toml` from the options; called by the constructor. */
  writeConfig(): void {
    const o = this.#opts;
    const doc = {
      agent: {
        id: this.pcId,
        ...(o.natsUrl === undefined ? {} : { nats_url: o.natsUrl }),
        data_dir: this.dataDir,
        ...o.agent,
      },
      log: { keep_days: 0, ...o.log },
    };
    const extra = o.extraToml === undefined ? "" : `\n${o.extraToml}\n`;
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(this.configPath, `${stringify(doc)}\n${extra}`);
  }

  /** Spawns the process; resolves once it is running. Fails if this instance already ran. */
  async start(): Promise<void> {
    if (this.#child) throw new Error(`agent ${this.pcId} was already started`);
    const o = this.#opts;
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) {
      if (v !== undefined && !k.startsWith("KANADE_")) env[k] = v;
    }
    for (const [k, v] of Object.entries(o.env ?? {})) {
      if (v === undefined) delete env[k];
      else env[k] = v;
    }
    const args = [
      ...NODE_FLAGS, // as the systemd unit and the supervisor run it
      o.entry ?? AGENT_BIN,
      ...(o.args ?? ["--config", this.configPath]),
      ...(o.extraArgs ?? []),
    ];
    const child = spawn(process.execPath, args, {
      cwd: this.dir,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.#child = child;
    killAtExit(child);
    this.#capture(child, "stdout");
    this.#capture(child, "stderr");
    this.#exited = new Promise<AgentExit>((resolve) => {
      child.once("exit", (code, signal) => {
        // Let the output the process wrote just before exiting arrive first.
        void this.#outputDrained(child).then(() => {
          const e: AgentExit = { code, signal };
          this.#exit = e;
          for (const w of this.#waiters) w.exit(e);
          resolve(e);
        });
      });
    });
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", () => resolve());
      child.once("error", (err) =>
        reject(new Error(`could not spawn agent ${this.pcId}: ${err.message}`, { cause: err })),
      );
    });
  }

  get pid(): number {
    return this.#child?.pid ?? 0;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#exit === undefined;
  }

  /** Every captured line so far (the oldest are dropped beyond 50 000). */
  get logs(): readonly LogLine[] {
    return this.#logs;
  }

  /** `seq` of the next line: pass it as `after` to wait only for lines logged from now on. */
  mark(): number {
    return this.#seq;
  }

  /** Resolves with the exit code and signal once the process has exited and its output drained. */
  get exited(): Promise<AgentExit> {
    if (!this.#exited) return Promise.reject(new Error(`agent ${this.pcId} was never started`));
    return this.#exited;
  }

  /**
   * Resolves with the first line (already logged or future) that matches. Rejects after
   * `timeoutMs`, or as soon as the process exits without having logged it; the error quotes the
   * last 20 lines.
   */
  waitForLog(
    matcher: LogMatcher,
    timeoutMs = 10_000,
    opts: { after?: number } = {},
  ): Promise<LogLine> {
    const after = opts.after ?? 0;
    const matches = (l: LogLine) => l.seq >= after && lineMatches(l, matcher);
    const found = this.#logs.find(matches);
    if (found) return Promise.resolve(found);
    const what = describeMatcher(matcher);
    if (this.#exit) return Promise.reject(this.#error(`exited (${exitText(this.#exit)})`, what));
    if (!this.#child) return Promise.reject(new Error(`agent ${this.pcId} was never started`));

    return new Promise<LogLine>((resolve, reject) => {
      const waiter = {
        check: (l: LogLine) => {
          if (matches(l)) finish(() => resolve(l));
        },
        exit: (e: AgentExit) => finish(() => reject(this.#error(`exited (${exitText(e)})`, what))),
      };
      const timer = setTimeout(
        () => finish(() => reject(this.#error(`timed out after ${timeoutMs} ms`, what))),
        timeoutMs,
      );
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
        settle();
      };
      this.#waiters.add(waiter);
    });
  }

  /**
   * Sends `signal` and waits for the exit; resolves with the exit code (null when a signal ended
   * it). Rejects, after a SIGKILL, if the process outlives `timeoutMs`.
   */
  async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 10_000): Promise<number | null> {
    const child = this.#child;
    if (!child) throw new Error(`agent ${this.pcId} was never started`);
    if (this.#exit) return this.#exit.code;
    child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), timeoutMs);
    });
    const r = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (r === "late") {
      child.kill("SIGKILL");
      await this.exited;
      throw this.#error(`did not exit within ${timeoutMs} ms of ${signal}`, "an exit");
    }
    return r.code;
  }

  /** SIGKILL and wait for the exit; never throws (safe in `afterEach`). */
  async kill(): Promise<AgentExit | undefined> {
    const child = this.#child;
    if (!child) return undefined;
    if (!this.#exit) child.kill("SIGKILL");
    return this.exited;
  }

  #capture(child: ChildProcess, stream: "stdout" | "stderr"): void {
    const source = child[stream];
    if (!source) return;
    source.setEncoding("utf8");
    let partial = "";
    source.on("data", (chunk: string) => {
      const parts = (partial + chunk).split("\n");
      partial = parts.pop() ?? "";
      for (const text of parts) this.#push(stream, text);
    });
    source.on("end", () => {
      if (partial !== "") this.#push(stream, partial);
      partial = "";
    });
  }

  #push(stream: "stdout" | "stderr", raw: string): void {
    const text = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    const line: LogLine = { seq: this.#seq++, stream, text, json: parseJsonObject(text) };
    this.#logs.push(line);
    if (this.#logs.length > MAX_LOG_LINES) this.#logs.splice(0, this.#logs.length - MAX_LOG_LINES);
    for (const w of this.#waiters) w.check(line);
  }

  async #outputDrained(child: ChildProcess): Promise<void> {
    // A grandchild that inherited stdout could keep it open forever: wait a bounded time.
    const ends = [child.stdout, child.stderr].map((s) =>
      s && !s.closed ? new Promise<void>((r) => s.once("close", () => r())) : undefined,
    );
    await Promise.race([Promise.all(ends), sleep(1_000)]);
  }

  #error(why: string, what: string): Error {
    const tail = this.#logs
      .slice(-20)
      .map((l) => `  ${l.stream === "stderr" ? "[stderr] " : ""}${l.text}`)
      .join("\n");
    return new Error(
      `agent ${this.pcId} ${why} while waiting for ${what}; last lines:\n${tail || "  (no output)"}${this.#opts.entry === undefined ? staleBuildHint() : ""}`,
    );
  }
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  if (!text.startsWith("{")) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === "object" && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function lineMatches(line: LogLine, matcher: LogMatcher): boolean {
  if (typeof matcher === "function") return matcher(line);
  for (const [key, want] of Object.entries(matcher)) {
    // A text line has no fields; its whole text stands for `msg`.
    const have = line.json ? line.json[key] : key === "msg" ? line.text : undefined;
    if (!valueMatches(have, want)) return false;
  }
  return true;
}

function valueMatches(have: unknown, want: unknown): boolean {
  if (want instanceof RegExp) return have !== undefined && want.test(String(have));
  if (typeof want === "object" && want !== null)
    return JSON.stringify(have) === JSON.stringify(want);
  return have === want;
}

function describeMatcher(matcher: LogMatcher): string {
  if (typeof matcher === "function") return `a log line matching ${matcher.name || "predicate"}`;
  const fields = Object.entries(matcher).map(
    ([k, v]) => `${k}=${v instanceof RegExp ? String(v) : JSON.stringify(v)}`,
  );
  return `a log line with ${fields.join(" ")}`;
}

function exitText(e: AgentExit): string {
  return e.signal ? `signal ${e.signal}` : `code ${e.code}`;
}

/**
 * Builds `dist/` when its last file, `dist/kanade-agent.mjs`, is missing (a fresh checkout where
 * `npm run build` was not run). Call it in `beforeAll` of a file that starts agents. Several
 * workers may call it at once: a lock folder makes them build one at a time.
 */
export async function ensureAgentBuilt(timeoutMs = 120_000): Promise<void> {
  if (existsSync(BASE_BUNDLE)) return;
  // `.tmp/` is git-ignored; mkdir is atomic, so the folder works as a lock.
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
    if (!existsSync(BASE_BUNDLE)) buildAgent(timeoutMs);
  } finally {
    rmdirSync(lock);
  }
}

/** `npm run build`: tsc, then the base bundle that `bin/kanade-agent.js` runs. */
export function buildAgent(timeoutMs = 120_000): void {
  try {
    execFileSync("npm", ["run", "build"], { cwd: REPO_ROOT, stdio: "pipe", timeout: timeoutMs });
  } catch (err) {
    throw new Error(`building the agent failed: ${String(err)}`, { cause: err });
  }
}

/** The build is missing, or older than a file of `src/`. */
export function buildIsStale(): boolean {
  if (!existsSync(BASE_BUNDLE)) return true;
  return newestMtime(join(REPO_ROOT, "src")) > statSync(BASE_BUNDLE).mtimeMs;
}

/** A hint for error messages when dist/ is older than the sources it was built from. */
function staleBuildHint(): string {
  try {
    return existsSync(BASE_BUNDLE) && buildIsStale()
      ? "\n(dist/ is older than src/: run `npm run build`)"
      : "";
  } catch {
    return "";
  }
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}
