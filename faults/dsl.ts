// The scenario DSL: plain typed TypeScript. A scenario is an async function of a context whose
// methods start brokers and agents, publish commands, inject faults, wait for events and assert
// the promises (exactly once, no process left, agent alive). `faults/context.ts` implements it.

import type { Random } from "../src/services/time/clock.js";
import type { LogMatcher } from "../test/helpers/agentProcess.js";

/** Where a command goes: one PC, every PC, or a group. */
export type Target = "all" | { pc: string } | { group: string };

export interface AgentOptions {
  /** Membership written to KV `agent_groups` before the agent starts. */
  groups?: string[];
  /** Wait for "replay consumer ready" (default true). */
  waitReady?: boolean;
  /**
   * Run the agent under libfaketime so `clockJump` moves its wall clock (monotonic time stays).
   * Ignored when the library is not installed; `clockJump` then shifts deadlines instead.
   */
  faketime?: boolean;
  /** Agent log level (default `info`). */
  logLevel?: "error" | "warn" | "info" | "debug" | "trace";
}

export interface CommandOptions {
  /** Default: a fresh `req-…`. */
  requestId?: string;
  /** Default: a fresh `exec-…`; `null` for a command without exec_id. */
  execId?: string | null;
  /** Default 30. */
  timeoutSecs?: number;
  /** `deadline_at` = the backend's clock now + this (see `clockJump`). */
  deadlineInMs?: number;
  /**
   * `jetstream` (default): publish with PubAck, retried until EXEC stored it, so a command the
   * scenario counts as sent is known to the broker. `core`: fire and forget, as kanade's CLI.
   */
  via?: "jetstream" | "core";
  /** Flush after a core publish (default true); batch publishers flush once with `flush()`. */
  flush?: boolean;
  /** The promise made for this command on each receiver (default `once`). */
  expect?: "once" | "skipped" | "none";
  /** Exit code the one result must carry. */
  exitCode?: number;
  /**
   * Agents the promise is made for. Default: the PC of a `pc` target; every agent started so far
   * for `all`; for a group, the agents started with it, looked up when the promises are checked.
   */
  receivers?: readonly string[];
}

/** What `waitFor` waits for. */
export type WaitEvent =
  /** The script of this request id started (run log). */
  | { running: string }
  /** The run log holds at least this many starts of the scenario's commands. */
  | { executed: number }
  /** RESULTS holds a result for this request id. */
  | { result: string }
  /** The agent's replay consumer is ready (since its last start). */
  | { ready: string }
  /** The agent logged (re)connected since `since` (a `mark()`), or since its last start. */
  | { connected: string; since?: number }
  /** A line of the agent's log since `since` (or its last start). */
  | { log: string; match: LogMatcher; since?: number }
  /** The agent's connection is on another node than `node` (cluster). */
  | { movedFrom: number; agent: string }
  /** Every stream has a leader and current replicas (cluster). */
  | { replicasCurrent: true };

export interface ResultsSpec {
  /** Run exactly once, one result (default for every command published with expect `once`). */
  exactlyOnce?: readonly string[] | "all";
  /** Never run, one result; usually with `exitCodes`. */
  skipped?: readonly string[];
  /** Exit code each listed request's result must carry. */
  exitCodes?: Readonly<Record<string, number>>;
}

export interface DiskFillHandle {
  readonly mode: "tmpfs" | "file-in-place";
  /** Frees the space again. */
  release(): Promise<void>;
}

export interface ScenarioContext {
  /** Seeded: every random choice of a scenario comes from here. */
  readonly random: Random;
  readonly seed: number;
  /** `fast` for the `npm test` subset, `full` for `npm run faults`. */
  readonly scale: "fast" | "full";
  /** Marks every process of this run's scripts (see `sleepScript`). */
  readonly marker: string;
  /** `fast` or `full` size of a scenario knob. */
  size(fast: number, full: number): number;
  /** Seeded integer in [lo, hi]. */
  between(lo: number, hi: number): number;
  sleep(ms: number): Promise<void>;
  /** An observation for the report (not a failure). */
  note(text: string): void;
  /** `sleep <secs>` carrying the run marker, so leftover children can be found. */
  sleepScript(secs: number): string;
  /** Milliseconds since the scenario began (for the scenario's own timings). */
  elapsed(): number;

  startBroker(opts?: { bootstrap?: boolean }): Promise<void>;
  startCluster(size?: number): Promise<void>;
  /** Creates whatever of the resource set is missing (R3 on a cluster). */
  recreateResources(): Promise<void>;
  startAgent(id: string, opts?: AgentOptions): Promise<void>;
  /** Returns the request_id. The script records its start in the run log first. */
  publishCommand(target: Target, script: string, opts?: CommandOptions): Promise<string>;
  /** Publishes the very same message again (same request_id): a backend duplicate. */
  republish(
    requestId: string,
    opts?: { via?: "jetstream" | "core"; flush?: boolean },
  ): Promise<void>;
  flush(): Promise<void>;

  /** SIGKILL a node (default: the node the first agent is on); returns its index. */
  killBroker(node?: number): Promise<number>;
  /** Starts a node again (default: the one killed last; same port, same store unless `emptyStore`). */
  restartBroker(node?: number, opts?: { emptyStore?: boolean }): Promise<void>;
  /** Lame-duck mode on a node; resolves once the node has exited. */
  lameDuckBroker(node?: number): Promise<number>;
  /** Index of the node an agent is connected to (cluster: CONNZ; single broker: 0). */
  brokerOf(agent: string): Promise<number>;
  /** Cuts the agent's connections and refuses new ones for `ms`. */
  partition(agent: string, ms: number): Promise<void>;
  /** Keeps the agent's sockets open but drops every byte for `ms`. */
  blackhole(agent: string, ms: number): Promise<void>;
  /** SIGSTOP a node for `ms`. */
  freezeBroker(ms: number, node?: number): Promise<void>;
  killAgent(id: string, signal?: NodeJS.Signals): Promise<void>;
  restartAgent(id: string, opts?: { waitReady?: boolean }): Promise<void>;
  /** SIGKILLs the agent's spawn helper (the process that forks its scripts; POSIX). */
  killSpawnHelper(agent: string): Promise<void>;
  deleteConsumer(agent: string): Promise<void>;
  deleteStream(name: string): Promise<void>;
  /** Makes the agent's `outbox/` full (see `faults/diskFull.ts` for the two modes). */
  fillDisk(agent: string): Promise<DiskFillHandle>;
  /**
   * Moves the agents' wall clock by `ms`. Under libfaketime (agents started with `faketime`)
   * the agent processes really see the jump; otherwise later deadlines are computed from a clock
   * shifted by `-ms`, which is what an agent whose clock jumped would compare them with.
   */
  clockJump(ms: number): Promise<"faketime" | "shifted-deadlines">;

  waitFor(event: WaitEvent, timeoutMs?: number): Promise<void>;
  /** A position in the agent's log, for `since` in `waitFor`. */
  mark(agent: string): number;
  /** Lines of the agent's current process log matching `match` (since `since`, if given). */
  countLog(agent: string, match: LogMatcher, since?: number): number;

  /**
   * Waits until every listed command has a result in RESULTS, lets the agents settle (outboxes
   * empty, replay drained), then checks runs and results exactly. Broken promises are recorded.
   */
  expectResults(spec?: ResultsSpec, timeoutMs?: number): Promise<void>;
  /** No process carrying the run marker is left after `graceMs`. */
  expectNoProcessesLeft(graceMs?: number): Promise<void>;
  /** The agent process runs and answers a ping. */
  expectAgentAlive(id?: string): Promise<void>;
}

export interface ScenarioMeta {
  /** Part of the fast subset that `npm test` runs. */
  fast?: boolean;
  /** One line: what the scenario proves. */
  description?: string;
  /** Whole-run limit at `full` scale (default 5 min); `fast` runs get a third of it. */
  timeoutMs?: number;
}

export interface Scenario extends Required<Pick<ScenarioMeta, "description">> {
  readonly name: string;
  readonly fast: boolean;
  readonly timeoutMs: number;
  readonly run: (s: ScenarioContext) => Promise<void>;
}

export function defineScenario(
  name: string,
  run: (s: ScenarioContext) => Promise<void>,
  meta: ScenarioMeta = {},
): Scenario {
  return {
    name,
    run,
    fast: meta.fast ?? false,
    description: meta.description ?? "",
    timeoutMs: meta.timeoutMs ?? 300_000,
  };
}
