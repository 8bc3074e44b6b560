import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { Logger } from "../logging/logger.js";
import { type Clock, systemClock } from "../time/clock.js";
import {
  type CapturedStream,
  DEFAULT_CAPTURE_BYTES,
  emptyCapture,
  StreamCapture,
  type StreamName,
} from "./capture.js";
import { childEnv } from "./childEnv.js";
import type { Invocation } from "./invocation.js";
import { groupHasLiveMembers, signalGroup, taskkillInvocation } from "./kill.js";
import {
  captureFailedNote,
  failedToStartNote,
  type KillReason,
  killNote,
  lostNote,
  signalNote,
} from "./notes.js";
import { type ChildControl, type ChildSink, inProcessSpawner, type Spawner } from "./spawner.js";

export type { KillReason } from "./notes.js";

/** How a run ended (behavior.md 7.14, wire §4.4). */
export interface RunOutcome {
  /** The child's code, `-1` (killed, signalled, no code) or 120 (not started). */
  exitCode: number;
  stdout: CapturedStream;
  stderr: CapturedStream;
  /** Agent notes for the end of stderr, in order (`renderCaptured(stderr, "stderr", notes)`). */
  notes: string[];
  /** The agent ended the run, for this reason (the first kill wins). */
  killedBy?: KillReason;
  /** The signal that ended the child, whoever sent it. */
  signal?: string;
  /** The child never ran; the reason is also the note `failed to start: <reason>`. */
  failedToStart?: string;
  /** Wall clock when the outcome was settled, epoch ms. */
  finishedAt: number;
}

export interface RunHandle {
  /** The child's pid (and, on POSIX, its process group id); undefined when it never started. */
  readonly pid: number | undefined;
  /** Wall clock at spawn, epoch ms. */
  readonly spawnedAt: number;
  /**
   * Kills the whole tree. The first reason wins; a kill after the child exited, or of a run that
   * never started, is ignored (behavior.md 7.16). Returns whether this call started the kill.
   * `graceMs` is the POSIX TERM → KILL delay (default `killGraceMs`; 1.5 s when stopping, 18.2).
   */
  kill(reason: KillReason, graceMs?: number): boolean;
  /** The pid once the child runs (a spawn helper answers asynchronously); undefined if it never did. */
  readonly started: Promise<number | undefined>;
  /** Settles once the child exited and its pipes closed or drained; never rejects. */
  readonly done: Promise<RunOutcome>;
}

export interface StartRunOptions {
  invocation: Invocation;
  /** The resolved working directory (`resolveCwd`); undefined → the agent's own. */
  cwd?: string | undefined;
  /** The agent's environment; the NATS token is removed here whatever the caller passes. */
  env: Record<string, string | undefined>;
  /** `scripts/<result_id>/`: staged files go here; removed when the run ends (7.15). */
  scriptDir: string;
  /** The command's timeout; anything under 1 s runs with 1 s (7.11). */
  timeoutMs: number;
  /** For the note `killed by remote signal (kill.<exec_id>)`. */
  execId?: string | undefined;
  /** Per-stream capture cap, split 2:1 head/tail (7.10). */
  maxCaptureBytes?: number;
  killGraceMs?: number;
  pipeDrainMs?: number;
  clock?: Clock;
  platform?: NodeJS.Platform;
  logger?: Logger;
  /** Who forks the child: the spawn helper on POSIX agents; this process by default. */
  spawner?: Spawner;
  /** Synced by the spawner before the fork; not written → exit 120 (see `SpawnSpec.intent`). */
  intent?: { file: string; line: string } | undefined;
}

export const DEFAULT_KILL_GRACE_MS = 2000;
export const DEFAULT_PIPE_DRAIN_MS = 2000;
export const MIN_TIMEOUT_MS = 1000;

/** setTimeout fires at once for delays over 2^31−1 ms, so long timeouts are chained. */
const MAX_TIMER_MS = 2_147_483_647;
/** How often a killed group is checked for survivors during the grace. */
const GROUP_POLL_MS = 50;

export function effectiveTimeoutMs(timeoutMs: number): number {
  return Number.isNaN(timeoutMs) ? MIN_TIMEOUT_MS : Math.max(timeoutMs, MIN_TIMEOUT_MS);
}

/** Stages the scripts, spawns the child and supervises it to its outcome (behavior.md 7.3–7.15). */
export function startRun(opts: StartRunOptions): RunHandle {
  return new Run(opts);
}

class Run implements RunHandle, ChildSink {
  readonly spawnedAt: number;
  readonly done: Promise<RunOutcome>;
  readonly started: Promise<number | undefined>;

  private readonly clock: Clock;
  private readonly platform: NodeJS.Platform;
  private readonly log: Logger | undefined;
  private readonly scriptDir: string;
  private readonly execId: string | undefined;
  private readonly timeoutMs: number;
  private readonly killGraceMs: number;
  private readonly pipeDrainMs: number;
  private readonly out: StreamCapture;
  private readonly err: StreamCapture;
  private readonly notes: string[] = [];
  private readonly file: string;

  private childPid: number | undefined;
  private control: ChildControl | undefined;
  /** Asked to spawn, not yet told whether it did (the helper answers asynchronously). */
  private starting = false;
  private resolve!: (outcome: RunOutcome) => void;
  private resolveStarted!: (pid: number | undefined) => void;
  private settled = false;
  /** Files were staged in `scriptDir` (7.15: removed when the run ends). */
  private staged = false;
  private childExited = false;
  private exitCode: number | null = null;
  private exitSignal: NodeJS.Signals | null = null;
  private readonly open = new Set<StreamName>();
  private killedBy: KillReason | undefined;
  private killGrace = 0;
  private killSettled = false;
  private killDeadline = 0;
  private timeoutTimer: NodeJS.Timeout | undefined;
  private drainTimer: NodeJS.Timeout | undefined;
  private killTimer: NodeJS.Timeout | undefined;

  constructor(opts: StartRunOptions) {
    this.clock = opts.clock ?? systemClock;
    this.platform = opts.platform ?? process.platform;
    this.log = opts.logger;
    this.scriptDir = opts.scriptDir;
    this.execId = opts.execId;
    this.file = opts.invocation.file;
    this.timeoutMs = effectiveTimeoutMs(opts.timeoutMs);
    this.killGraceMs = opts.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
    this.pipeDrainMs = opts.pipeDrainMs ?? DEFAULT_PIPE_DRAIN_MS;
    this.out = new StreamCapture(opts.maxCaptureBytes ?? DEFAULT_CAPTURE_BYTES);
    this.err = new StreamCapture(opts.maxCaptureBytes ?? DEFAULT_CAPTURE_BYTES);
    this.done = new Promise((resolve) => {
      this.resolve = resolve;
    });
    this.started = new Promise((resolve) => {
      this.resolveStarted = resolve;
    });
    this.spawnedAt = this.clock.now();
    const problem = this.prepare(opts);
    if (problem !== undefined) this.failToStart(problem);
    else this.spawn(opts);
  }

  get pid(): number | undefined {
    return this.childPid;
  }

  kill(reason: KillReason, graceMs: number = this.killGraceMs): boolean {
    if (this.killedBy || this.childExited || this.settled) return false;
    if (this.childPid === undefined && !this.starting) return false;
    this.killedBy = reason;
    this.killGrace = Math.max(0, graceMs);
    this.clearTimer("timeoutTimer");
    // Not spawned yet: the kill lands as soon as the pid is known.
    if (this.childPid !== undefined) this.terminate(this.childPid);
    return true;
  }

  private terminate(pid: number): void {
    this.log?.info({ pid, reason: this.killedBy }, "killing process tree");
    if (this.platform === "win32") {
      const tk = taskkillInvocation(pid);
      try {
        spawn(tk.file, tk.args, { stdio: "ignore", windowsHide: true }).on("error", (e) =>
          this.log?.warn({ pid, err: e }, "taskkill failed"),
        );
      } catch (e) {
        this.log?.warn({ pid, err: e }, "taskkill failed");
      }
      this.killSettled = true;
      return;
    }
    this.signal(pid, "SIGTERM");
    this.killDeadline = this.clock.monotonic() + this.killGrace;
    this.watchGroup(pid);
  }

  /** Staged files and the working directory; a problem here means the child never starts. */
  private prepare(opts: StartRunOptions): string | undefined {
    const { staged } = opts.invocation;
    if (staged.length > 0) {
      this.staged = true;
      try {
        fs.mkdirSync(this.scriptDir, { recursive: true });
        for (const f of staged) fs.writeFileSync(path.join(this.scriptDir, f.name), f.content);
      } catch (e) {
        return `cannot stage the script in ${this.scriptDir}: ${errorText(e)}`;
      }
    }
    if (opts.cwd !== undefined) {
      let isDir: boolean;
      try {
        isDir = fs.statSync(opts.cwd).isDirectory();
      } catch {
        return `working directory ${opts.cwd} does not exist`;
      }
      if (!isDir) return `working directory ${opts.cwd} is not a directory`;
    }
    return undefined;
  }

  private spawn(opts: StartRunOptions): void {
    const { file, args, windowsVerbatimArguments } = opts.invocation;
    this.starting = true;
    this.control = (opts.spawner ?? inProcessSpawner).spawn(
      {
        file,
        args,
        cwd: opts.cwd,
        env: childEnv(opts.env),
        // POSIX: the child leads a new process group, so the whole tree can be signalled (7.12).
        detached: this.platform !== "win32",
        windowsVerbatimArguments: windowsVerbatimArguments ?? false,
        ...(opts.intent ? { intent: opts.intent } : {}),
      },
      this,
    );
  }

  // --- ChildSink: what the spawner reports ---

  spawned(pid: number): void {
    this.starting = false;
    this.childPid = pid;
    this.resolveStarted(pid);
    this.open.add("stdout");
    this.open.add("stderr");
    this.log?.debug({ pid, file: this.file }, "child spawned");
    if (this.killedBy) this.terminate(pid);
    else this.armTimeout(this.clock.monotonic() + this.timeoutMs);
  }

  failed(error: NodeJS.ErrnoException, stage: "spawn" | "intent"): void {
    this.starting = false;
    this.failToStart(stage === "intent" ? error.message : spawnFailure(this.file, error));
  }

  data(pipe: StreamName, chunk: Buffer): void {
    (pipe === "stdout" ? this.out : this.err).push(chunk);
  }

  ended(pipe: StreamName, error?: string): void {
    if (error !== undefined) this.notes.push(captureFailedNote(pipe, error));
    if (!this.open.delete(pipe)) return;
    this.maybeSettle();
  }

  exited(code: number | null, signal: NodeJS.Signals | null): void {
    this.childExited = true;
    this.exitCode = code;
    this.exitSignal = signal;
    this.clearTimer("timeoutTimer");
    if (this.open.size > 0) {
      // A descendant may hold the pipes for ever; its later output is lost, it lives on (7.13).
      this.drainTimer = setTimeout(() => this.stopReading(), this.pipeDrainMs);
    }
    this.maybeSettle();
  }

  warn(message: string): void {
    this.log?.warn({ pid: this.childPid, err: message }, "child process error");
  }

  /** Nobody can tell any more how the child ends: end its tree now rather than leave it unwatched. */
  lost(reason: string): void {
    if (this.settled) return;
    if (this.childExited) {
      // Only the pipes' last bytes are lost: the exit is known.
      this.open.clear();
      this.maybeSettle();
      return;
    }
    this.log?.error({ pid: this.childPid, reason }, "child lost: killing its process group");
    this.starting = false;
    this.notes.push(lostNote(reason));
    const pid = this.childPid;
    if (pid !== undefined && this.platform !== "win32") this.signal(pid, "SIGKILL");
    this.open.clear();
    this.childExited = true;
    this.killSettled = true;
    this.maybeSettle();
  }

  private stopReading(): void {
    this.drainTimer = undefined;
    this.control?.release();
    this.open.clear();
    this.maybeSettle();
  }

  /** Monotonic deadline, re-armed in steps so a clock or timer hiccup cannot fire it early. */
  private armTimeout(deadline: number): void {
    const left = deadline - this.clock.monotonic();
    if (left <= 0) {
      this.timeoutTimer = undefined;
      this.kill("timeout");
      return;
    }
    this.timeoutTimer = setTimeout(() => this.armTimeout(deadline), Math.min(left, MAX_TIMER_MS));
  }

  /** After TERM: done as soon as the group is empty, KILL to whatever is left at the deadline. */
  private watchGroup(pgid: number): void {
    this.killTimer = undefined;
    if (this.settled) return;
    if (!groupHasLiveMembers(pgid, this.platform)) {
      this.killSettled = true;
      this.maybeSettle();
      return;
    }
    const left = this.killDeadline - this.clock.monotonic();
    if (left <= 0) {
      this.signal(pgid, "SIGKILL");
      this.killSettled = true;
      this.maybeSettle();
      return;
    }
    this.killTimer = setTimeout(() => this.watchGroup(pgid), Math.min(left, GROUP_POLL_MS));
  }

  private signal(pgid: number, signal: NodeJS.Signals): void {
    try {
      signalGroup(pgid, signal);
    } catch (e) {
      this.log?.warn({ pgid, signal, err: e }, "cannot signal process group");
    }
  }

  private maybeSettle(): void {
    if (this.settled || !this.childExited || this.open.size > 0) return;
    if (this.killedBy && !this.killSettled) return;
    const notes = [...this.notes];
    let exitCode: number;
    if (this.killedBy) {
      exitCode = -1;
      notes.push(
        killNote(this.killedBy, {
          execId: this.execId,
          timeoutSecs: Math.ceil(this.timeoutMs / 1000),
        }),
      );
    } else if (this.exitSignal) {
      exitCode = -1;
      notes.push(signalNote(this.exitSignal));
    } else if (this.exitCode === null) {
      exitCode = -1;
    } else {
      // Windows reports NTSTATUS codes unsigned; the wire carries an i32.
      exitCode = this.exitCode | 0;
    }
    const outcome: RunOutcome = {
      exitCode,
      stdout: this.out.result(),
      stderr: this.err.result(),
      notes,
      finishedAt: this.clock.now(),
    };
    if (this.killedBy) outcome.killedBy = this.killedBy;
    if (this.exitSignal) outcome.signal = this.exitSignal;
    this.settle(outcome);
  }

  private failToStart(reason: string): void {
    if (this.settled) return;
    this.log?.warn({ reason }, "child failed to start");
    this.settle({
      exitCode: 120,
      stdout: emptyCapture(),
      stderr: emptyCapture(),
      notes: [failedToStartNote(reason)],
      failedToStart: reason,
      finishedAt: this.clock.now(),
    });
  }

  private settle(outcome: RunOutcome): void {
    this.settled = true;
    this.resolveStarted(this.childPid);
    this.clearTimer("timeoutTimer");
    this.clearTimer("drainTimer");
    this.clearTimer("killTimer");
    // Nothing staged (sh, one-line cmd): no folder to remove, no round trip to the disk.
    if (!this.staged) {
      this.resolve(outcome);
      return;
    }
    fs.promises
      .rm(this.scriptDir, { recursive: true, force: true })
      .catch((e) => this.log?.warn({ dir: this.scriptDir, err: e }, "cannot remove script dir"))
      .finally(() => this.resolve(outcome));
  }

  private clearTimer(name: "timeoutTimer" | "drainTimer" | "killTimer"): void {
    const t = this[name];
    if (t !== undefined) clearTimeout(t);
    this[name] = undefined;
  }
}

function spawnFailure(file: string, e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  const onPath = !/[\\/]/.test(file);
  if (code === "ENOENT") return onPath ? `${file} not found on PATH` : `${file} not found`;
  if (code === "EACCES") return `${file} is not executable (permission denied)`;
  return `${file}: ${errorText(e)}`;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
