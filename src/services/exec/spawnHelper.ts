import { type ChildProcess, spawn } from "node:child_process";
import type { Socket } from "node:net";
import type { Logger } from "../logging/logger.js";
import { spawnEngine } from "./spawnEngine.js";
import {
  type ChildControl,
  type ChildSink,
  ChildTable,
  inProcessSpawner,
  type Spawner,
  type SpawnSpec,
} from "./spawner.js";
import type { HelperReady, SpawnEvent, SpawnOrder } from "./spawnProtocol.js";

/** An idle helper exits after this long; the next command starts a new one (~50 ms). */
export const HELPER_IDLE_EXIT_MS = 60_000;
/** A helper that dies this soon after its start, this many times in a row, is given up. */
const QUICK_DEATH_MS = 5_000;
const MAX_QUICK_DEATHS = 3;
/**
 * A young generation of 2 × 1 MiB: the helper only moves small messages. No V8 worker threads
 * (its garbage collection and compiles run on its one thread): every fork write-protects the
 * pages the workers write too, so each spawn cost ~15 more page faults (154–168 → 135–147 per
 * command measured) and ~10 % more of the helper's CPU.
 */
const HELPER_NODE_FLAGS = ["--max-semi-space-size=1", "--single-threaded"];

export interface SpawnHelperOptions {
  log?: Logger;
  idleExitMs?: number;
  /** The Node binary; this process's own by default. */
  execPath?: string;
}

/** What `ps` shows for a helper (the agent's tests and benchmarks find helpers by it). */
export const HELPER_PROCESS_TITLE = "kanade-agent spawn helper";

/** The helper's whole program, fed to `node -` on its stdin: the engine and a message loop. */
export function helperSource(): string {
  return `process.title = ${JSON.stringify(HELPER_PROCESS_TITLE)};
// Events of one turn of the event loop (a child's exit and its pipes closing) travel as one message.
let batch = [];
let sentCallbacks = [];
const flush = () => {
  const events = batch;
  const callbacks = sentCallbacks;
  batch = [];
  sentCallbacks = [];
  const done = () => { for (const f of callbacks) f(); };
  if (!process.connected) return done();
  process.send(events, undefined, {}, done);
};
const send = (event, sent) => {
  if (batch.length === 0) setImmediate(flush);
  batch.push(event);
  if (sent) sentCallbacks.push(sent);
};
const engine = (${spawnEngine.toString()})(require("node:child_process"), require("node:fs"), send, true);
process.on("message", (order) => engine.order(order));
// The agent is gone (stopped or killed): its children are left as a dead agent leaves them.
process.on("disconnect", () => process.exit(0));
process.send({ type: "ready" });
`;
}

interface Helper {
  proc: ChildProcess;
  startedAt: number;
  /** Orders wait for the helper's first message: one that dies before it has started nothing. */
  ready: boolean;
  waiting: SpawnOrder[];
  /** The environment of the last spawn order it was sent. */
  env?: Record<string, string>;
}

/**
 * Spawns children from a small helper process instead of the agent. Node forks the calling
 * process to start a child, and a fork costs in proportion to the process's memory: from the
 * agent (100+ MiB during a burst) ~3 ms of its only thread per command, from the helper a
 * fraction of it, on another core. Kills need no helper: children lead their own process group
 * and the agent signals the group itself.
 *
 * Started at the first spawn, retired after a minute without children. If it dies, the children
 * it watched are reported lost (the run kills their group and says so) and the next spawn starts
 * a new one. Orders it never received (it died before saying ready) go to the next helper; after
 * three deaths within 5 s of their start the agent spawns from its own process for good.
 */
export class SpawnHelper implements Spawner {
  readonly #table = new ChildTable();
  readonly #log: Logger | undefined;
  readonly #idleExitMs: number;
  readonly #execPath: string;
  #helper: Helper | undefined;
  #quickDeaths = 0;
  #fallback = false;
  #closed = false;
  #idleTimer: NodeJS.Timeout | undefined;
  /** Spawn orders not yet answered, with how to run them here if the helper is given up. */
  readonly #orphans = new Map<number, () => void>();

  constructor(opts: SpawnHelperOptions = {}) {
    this.#log = opts.log;
    this.#idleExitMs = opts.idleExitMs ?? HELPER_IDLE_EXIT_MS;
    this.#execPath = opts.execPath ?? process.execPath;
  }

  /** The helper's pid while one runs. */
  get pid(): number | undefined {
    return this.#helper?.proc.pid;
  }

  /** Children spawned through it and not yet released. */
  get inFlight(): number {
    return this.#table.size;
  }

  /** Spawning from the agent's own process (closed, or the helper was given up). */
  get inProcess(): boolean {
    return this.#fallback || this.#closed;
  }

  spawn(spec: SpawnSpec, sink: ChildSink): ChildControl {
    if (this.inProcess) return inProcessSpawner.spawn(spec, sink);
    this.#clearIdle();
    const id = this.#table.add(sink);
    let inProcess: ChildControl | undefined;
    this.#order({ op: "spawn", id, spec }, () => {
      // The helper was given up before this order reached one.
      this.#table.remove(id);
      inProcess = inProcessSpawner.spawn(spec, sink);
    });
    return {
      release: () => {
        if (inProcess) return inProcess.release();
        if (!this.#table.remove(id)) return;
        // Never starts a helper: the one watching this child is the running one, if any.
        const helper = this.#helper;
        if (helper?.ready) this.#send(helper, { op: "release", id });
        if (helper && this.#table.size === 0) holdOpen(helper.proc, false);
        this.#idleLater();
      },
    };
  }

  /** Retires the helper; later spawns run in this process. */
  close(): void {
    this.#closed = true;
    this.#retire();
  }

  #order(order: SpawnOrder, inProcess?: () => void): void {
    if (this.inProcess) {
      inProcess?.();
      return;
    }
    if (inProcess) this.#orphans.set(order.id, inProcess);
    const helper = this.#helper ?? this.#start();
    if (order.op === "spawn") holdOpen(helper.proc, true);
    if (helper.ready) this.#send(helper, order);
    else helper.waiting.push(order);
  }

  #start(): Helper {
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    const proc = spawn(this.#execPath, [...HELPER_NODE_FLAGS, "-"], {
      stdio: ["pipe", "ignore", "pipe", "ipc"],
      serialization: "advanced",
      env,
    });
    const helper: Helper = { proc, startedAt: performance.now(), ready: false, waiting: [] };
    this.#helper = helper;
    proc.stdin?.on("error", () => {}); // a helper that died at once: its exit tells
    proc.stdin?.end(helperSource());
    proc.stderr?.setEncoding("utf8");
    // What the helper writes is read while anything else keeps the agent up, never alone.
    (proc.stderr as Socket | null)?.unref();
    proc.stderr?.on("data", (text: string) =>
      this.#log?.warn(
        { helper_pid: proc.pid, stderr: text.slice(0, 2000) },
        "spawn helper wrote to stderr",
      ),
    );
    proc.on("message", (events: SpawnEvent[] | HelperReady) => {
      if (!Array.isArray(events)) return this.#ready(helper);
      for (const event of events) {
        this.#orphans.delete(event.id);
        this.#table.deliver(event);
      }
      if (this.#table.size === 0) {
        holdOpen(helper.proc, false);
        this.#idleLater();
      }
    });
    proc.once("error", (err) => this.#gone(helper, `could not be started: ${err.message}`));
    proc.once("exit", (code, signal) =>
      this.#gone(helper, signal ? `was killed by ${signal}` : `exited with code ${code}`),
    );
    holdOpen(proc, false);
    return helper;
  }

  #ready(helper: Helper): void {
    helper.ready = true;
    this.#log?.debug({ helper_pid: helper.proc.pid }, "spawn helper ready");
    for (const order of helper.waiting.splice(0)) this.#send(helper, order);
  }

  #send(helper: Helper, order: SpawnOrder): void {
    // A failed send means the helper is going: its exit reports the children as lost.
    if (!helper.proc.connected) return;
    let message = order;
    if (order.op === "spawn" && order.spec.env !== undefined) {
      if (order.spec.env === helper.env)
        message = { ...order, spec: { ...order.spec, env: undefined } };
      helper.env = order.spec.env;
    }
    helper.proc.send(message, undefined, {}, () => {});
  }

  #gone(helper: Helper, reason: string): void {
    if (this.#helper !== helper) return; // retired on purpose, or already handled
    this.#helper = undefined;
    this.#clearIdle();
    if (performance.now() - helper.startedAt < QUICK_DEATH_MS) this.#quickDeaths++;
    else this.#quickDeaths = 0;
    if (this.#quickDeaths >= MAX_QUICK_DEATHS && !this.#fallback) {
      this.#fallback = true;
      this.#log?.warn(
        { deaths: this.#quickDeaths, reason },
        "spawn helper keeps dying: children are spawned from the agent's own process from now on",
      );
    }
    const unsent = helper.ready ? [] : helper.waiting.splice(0);
    const lost = this.#table.size - unsent.filter((o) => o.op === "spawn").length;
    this.#log?.error(
      { helper_pid: helper.proc.pid, reason, children_lost: lost },
      `spawn helper ${reason}`,
    );
    // Orders it never received started nothing: they go to the next helper (or this process).
    const resend = new Set(unsent.map((o) => o.id));
    this.#table.loseAll(`the spawn helper ${reason}`, (id) => resend.has(id));
    for (const order of unsent) {
      if (order.op !== "spawn") continue;
      const fallback = this.#orphans.get(order.id);
      this.#orphans.delete(order.id);
      if (this.inProcess) fallback?.();
      else this.#order(order, fallback);
    }
  }

  #idleLater(): void {
    if (this.#table.size > 0 || this.#idleTimer || !this.#helper) return;
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.#table.size === 0) this.#retire();
    }, this.#idleExitMs);
    this.#idleTimer.unref();
  }

  #clearIdle(): void {
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }

  #retire(): void {
    this.#clearIdle();
    const helper = this.#helper;
    this.#helper = undefined;
    if (helper?.proc.connected) helper.proc.disconnect();
    // Retired with children in flight (agent stopping): their fate is no longer observed.
    this.#orphans.clear();
    if (this.#table.size > 0) this.#table.loseAll("the spawn helper was stopped");
  }
}

/** An idle helper never keeps the agent alive; one with children in flight does. */
function holdOpen(proc: ChildProcess, hold: boolean): void {
  if (hold) {
    proc.ref();
    proc.channel?.ref();
  } else {
    proc.unref();
    proc.channel?.unref();
  }
}
