import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import type { MsgHdrs, NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { JOURNAL_FILE } from "../../src/services/commands/ledger.js";
import { parseJournal } from "../../src/services/fs/journal.js";
import { bootstrapKanade } from "../../src/services/nats/resources.js";
import {
  commandsPc,
  eventsStartedWildcard,
  replayConsumerName,
  resultSubject,
  resultsWildcard,
  STREAM_EVENTS,
  STREAM_EXEC,
  STREAM_RESULTS,
} from "../../src/services/nats/subjects.js";
import { encodeCommand } from "../../src/services/wire/index.js";
import type { Command } from "../../src/services/wire/types.js";
import { AgentProcess, type AgentProcessOptions, ensureAgentBuilt } from "./agentProcess.js";
import { FaultyProxy } from "./faultyProxy.js";
import { NatsServer } from "./natsServer.js";
import { tempDir } from "./tmp.js";
import { type Collector, collect, waitFor } from "./waitFor.js";

/** An ExecResult as it is on the wire (wire.md §4.3), snake_case. */
export interface WireResult {
  result_id: string;
  request_id: string;
  exec_id?: string;
  pc_id: string;
  exit_code: number;
  stdout: string;
  stderr: string;
  started_at: string;
  finished_at: string;
  manifest_id?: string;
  stdout_object?: string;
  stderr_object?: string;
  skipped?: boolean;
}

/** An EventStarted as it is on the wire (wire.md §4.6). */
export interface WireStarted {
  result_id: string;
  request_id: string;
  exec_id: string;
  pc_id: string;
  started_at: string;
  manifest_id: string;
  version: string;
}

/** What a stream holds for one subject: how many messages, and the last one. */
export interface StreamSubjectState<T> {
  count: number;
  last: { data: T; raw: Uint8Array; headers: MsgHdrs | undefined; seq: number } | undefined;
}

export interface ScenarioOptions {
  /** Create the kanade resource set before the agent starts (default true). */
  bootstrap?: boolean;
  /** `false` = the kanade 0.40 set, without `result_output` (default true). */
  resultOutput?: boolean;
  /** Options for the agent; `natsUrl` defaults to the server. */
  agent?: AgentProcessOptions;
  /** Put a `FaultyProxy` between the agent and the server (the test client connects directly). */
  proxy?: boolean;
  /** Start the agent (default true). */
  startAgent?: boolean;
  /** After starting, wait until the replay consumer is ready (default: when bootstrapped). */
  waitReady?: boolean;
}

/** Log level of scenario agents: debug, so that duplicate drops can be waited for. */
const AGENT_LOG_LEVEL = "debug";

/**
 * One nats-server, a test client on it, and the real built agent: what every command-path test
 * needs. Scripts record each run by appending a line to `<runDir>/<request_id>.runs`.
 */
export class AgentScenario {
  readonly server: NatsServer;
  readonly nc: NatsConnection;
  /** Folder for the run files of `runScript`. */
  readonly runDir: string;
  /** Every `results.>` message the test client saw (core subscription, duplicates included). */
  readonly results: Collector<WireResult>;
  /** Every `events.started.>` message the test client saw. */
  readonly events: Collector<WireStarted>;
  agent: AgentProcess;
  /** The proxy the agent connects through, with `proxy: true`. */
  readonly proxy: FaultyProxy | undefined;
  readonly #agentOpts: AgentProcessOptions;
  readonly #extraAgents: AgentProcess[] = [];

  private constructor(
    server: NatsServer,
    nc: NatsConnection,
    agentOpts: AgentProcessOptions,
    proxy: FaultyProxy | undefined,
  ) {
    this.server = server;
    this.nc = nc;
    this.proxy = proxy;
    this.runDir = tempDir("kanade-runs-");
    this.results = collect<WireResult>(nc, resultsWildcard());
    this.events = collect<WireStarted>(nc, eventsStartedWildcard());
    this.#agentOpts = {
      natsUrl: proxy?.url ?? server.url,
      ...agentOpts,
      log: { level: AGENT_LOG_LEVEL, ...agentOpts.log },
    };
    this.agent = new AgentProcess(this.#agentOpts);
  }

  static async start(opts: ScenarioOptions = {}): Promise<AgentScenario> {
    await ensureAgentBuilt();
    const server = await NatsServer.start();
    const proxy = opts.proxy ? await FaultyProxy.start({ upstreamPort: server.port }) : undefined;
    const nc = await connectClient(server.url);
    const s = new AgentScenario(server, nc, opts.agent ?? {}, proxy);
    try {
      await nc.flush();
      const bootstrap = opts.bootstrap ?? true;
      if (bootstrap) await s.bootstrap(opts.resultOutput ?? true);
      if (opts.startAgent ?? true) {
        await s.agent.start();
        if (opts.waitReady ?? bootstrap) await s.waitReady();
      }
      return s;
    } catch (err) {
      await s.close();
      throw err;
    }
  }

  get pcId(): string {
    return this.agent.pcId;
  }

  async bootstrap(resultOutput = true): Promise<void> {
    await bootstrapKanade(this.nc, { resultOutput });
  }

  /** Waits for the replay consumer to be ready (live subscriptions are in place before it). */
  async waitReady(timeoutMs = 15_000, after = 0): Promise<void> {
    await this.agent.waitForLog({ msg: "replay consumer ready" }, timeoutMs, { after });
  }

  /**
   * A new agent process on the same pc_id, folder and data dir (the current one must have
   * exited); `agent` then refers to it.
   */
  async restartAgent(): Promise<AgentProcess> {
    if (this.agent.running) throw new Error(`agent ${this.pcId} is still running`);
    this.#extraAgents.push(this.agent);
    this.agent = new AgentProcess({
      ...this.#agentOpts,
      id: this.agent.pcId,
      dir: this.agent.dir,
      dataDir: this.agent.dataDir,
    });
    await this.agent.start();
    return this.agent;
  }

  /** A valid Command with test defaults: `sh`, 30 s timeout, a fresh request_id and exec_id. */
  command(over: Partial<Command> = {}): Command {
    return {
      id: "test-manifest",
      version: "1.0.0",
      requestId: `req-${randomUUID()}`,
      execId: `exec-${randomUUID()}`,
      shell: "sh",
      script: "true",
      timeoutSecs: 30,
      jitterSecs: null,
      runAs: "system",
      staleness: { mode: "cached" },
      ...over,
    };
  }

  /** A command whose script first records the run, then runs `body`. */
  runCommand(body: string, over: Partial<Command> = {}): Command {
    const cmd = this.command(over);
    cmd.script = this.runScript(cmd.requestId, body);
    return cmd;
  }

  /** `sh` that appends one line to the run file of `requestId`, then runs `body`. */
  runScript(requestId: string, body: string): string {
    return `echo run >> '${this.runFile(requestId)}'\n${body}`;
  }

  runFile(requestId: string): string {
    return join(this.runDir, `${requestId}.runs`);
  }

  /** How many times the script of `requestId` started. */
  runsOf(requestId: string): number {
    const f = this.runFile(requestId);
    if (!existsSync(f)) return 0;
    return readFileSync(f, "utf8")
      .split("\n")
      .filter((l) => l !== "").length;
  }

  /** Publishes `cmd` (core publish, captured by EXEC) on `commands.pc.<pc_id>` by default. */
  async publish(cmd: Command, subject = commandsPc(this.pcId)): Promise<void> {
    this.nc.publish(subject, JSON.stringify(encodeCommand(cmd)));
    await this.nc.flush();
  }

  async publishRaw(data: string | Uint8Array, subject = commandsPc(this.pcId)): Promise<void> {
    this.nc.publish(subject, data);
    await this.nc.flush();
  }

  /** The first result of `requestId` seen on the core subscription. */
  waitResult(requestId: string, timeoutMs = 10_000): Promise<WireResult> {
    return this.results
      .waitForMatch((m) => m.data.request_id === requestId, {
        timeoutMs,
        what: `the result of ${requestId}`,
      })
      .then((m) => m.data);
  }

  waitStarted(requestId: string, timeoutMs = 10_000): Promise<WireStarted> {
    return this.events
      .waitForMatch((m) => m.data.request_id === requestId, {
        timeoutMs,
        what: `the started event of ${requestId}`,
      })
      .then((m) => m.data);
  }

  /** What `RESULTS` holds on `results.<request_id>`. */
  streamResult(requestId: string): Promise<StreamSubjectState<WireResult>> {
    return subjectState<WireResult>(this.nc, STREAM_RESULTS, resultSubject(requestId));
  }

  /** What `EVENTS` holds on `subject`. */
  streamEvent(subject: string): Promise<StreamSubjectState<WireStarted>> {
    return subjectState<WireStarted>(this.nc, STREAM_EVENTS, subject);
  }

  /** Waits until `RESULTS` holds a result for `requestId` (works across broker restarts). */
  async waitStreamResult(requestId: string, timeoutMs = 15_000): Promise<WireResult> {
    let found: WireResult | undefined;
    await waitFor(
      async () => {
        const s = await this.streamResult(requestId);
        found = s.last?.data;
        return found !== undefined;
      },
      { timeoutMs, intervalMs: 50, what: `a result of ${requestId} in stream RESULTS` },
    );
    return found!;
  }

  /** Files waiting in `outbox/` and `events-outbox/` (not `stuck/`). */
  outboxFiles(): { results: string[]; events: string[] } {
    const list = (dir: string) =>
      existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".json")) : [];
    return {
      results: list(join(this.agent.dataDir, "outbox")),
      events: list(join(this.agent.dataDir, "events-outbox")),
    };
  }

  /** Waits until both outboxes are empty: every result and event was acked and deleted. */
  async waitOutboxesEmpty(timeoutMs = 10_000): Promise<void> {
    await waitFor(
      () => {
        const o = this.outboxFiles();
        return o.results.length === 0 && o.events.length === 0;
      },
      { timeoutMs, what: `the outboxes of ${this.pcId} to be empty` },
    );
  }

  /**
   * The ledger record of `requestId` as on disk, or undefined: its last journal line, or its
   * `running` line in the intent log when the journal has not caught up (the agent's own rule).
   */
  ledgerRecord(requestId: string): Record<string, unknown> | undefined {
    const payload = this.#ledgerLines().get(requestId);
    return payload === undefined ? undefined : (JSON.parse(payload) as Record<string, unknown>);
  }

  #ledgerLines(): Map<string, string> {
    const dir = join(this.agent.dataDir, "ledger");
    const last = new Map<string, string>();
    if (!existsSync(dir)) return last;
    const read = (name: string) => {
      try {
        return parseJournal(readFileSync(join(dir, name))).lines;
      } catch {
        return []; // rotated away meanwhile: its lines are in the journal
      }
    };
    const intents = readdirSync(dir)
      .filter((n) => /^intents-\d+$/.test(n))
      .flatMap((n) => read(n));
    for (const l of read(JOURNAL_FILE)) last.set(l.key, l.payload);
    const behind = new Set([undefined, "admitted", "launching"]);
    for (const l of intents) {
      const cur = last.get(l.key);
      const state = cur === undefined ? undefined : (JSON.parse(cur) as { state: string }).state;
      if (behind.has(state)) last.set(l.key, l.payload);
    }
    return last;
  }

  /** Waits until the ledger record of `requestId` is `finished`, and returns it. */
  async waitFinishedRecord(requestId: string, timeoutMs = 5_000): Promise<Record<string, unknown>> {
    let rec: Record<string, unknown> | undefined;
    await waitFor(
      () => {
        rec = this.ledgerRecord(requestId);
        // Settled: no longer holding its result (published or handed to the outbox).
        return rec?.state === "finished" && rec.result === undefined;
      },
      { timeoutMs, what: `the ledger record of ${requestId} to be finished` },
    );
    return rec!;
  }

  /** The request_ids the ledger has on disk. */
  ledgerRequestIds(): string[] {
    return [...this.#ledgerLines().keys()];
  }

  /** The agent's replay durable on `EXEC`, or null when absent. */
  async replayConsumer(): Promise<{
    delivered: number;
    ackFloor: number;
    numPending: number;
    numAckPending: number;
    /** Pull requests waiting on the durable. */
    numWaiting: number;
  } | null> {
    const jsm = await jetstreamManager(this.nc, { timeout: 3_000 });
    try {
      const info = await jsm.consumers.info(STREAM_EXEC, replayConsumerName(this.pcId));
      return {
        delivered: info.delivered.stream_seq,
        ackFloor: info.ack_floor.stream_seq,
        numPending: info.num_pending,
        numAckPending: info.num_ack_pending,
        numWaiting: info.num_waiting,
      };
    } catch (err) {
      if (/not found/i.test(String(err))) return null;
      throw err;
    }
  }

  /** Waits until the replay durable has delivered and seen acked everything `EXEC` holds. */
  async waitReplayDrained(timeoutMs = 10_000): Promise<void> {
    await waitFor(
      async () => {
        const c = await this.replayConsumer();
        return c !== null && c.numPending === 0 && c.numAckPending === 0;
      },
      { timeoutMs, intervalMs: 50, what: `the replay consumer of ${this.pcId} to drain` },
    );
  }

  /** Sequence of the last message `EXEC` holds on `subject`. */
  async execSeq(subject: string): Promise<number> {
    const jsm = await jetstreamManager(this.nc, { timeout: 3_000 });
    const m = await jsm.streams.getMessage(STREAM_EXEC, { last_by_subj: subject });
    if (!m) throw new Error(`EXEC holds nothing on ${subject}`);
    return m.seq;
  }

  /** Log lines of the current agent with `msg` and, optionally, `request_id`. */
  logCount(msg: string | RegExp, requestId?: string): number {
    return this.agent.logs.filter((l) => {
      const m = l.json?.msg;
      if (typeof m !== "string") return false;
      if (typeof msg === "string" ? m !== msg : !msg.test(m)) return false;
      return requestId === undefined || l.json?.request_id === requestId;
    }).length;
  }

  async close(): Promise<void> {
    for (const a of [...this.#extraAgents, this.agent]) await a.kill();
    this.results.stop();
    this.events.stop();
    await this.nc.close().catch(() => {});
    await this.proxy?.close();
    await this.server.stop();
  }
}

/** A test client that reconnects forever (it survives broker restarts in fault tests). */
export function connectClient(url: string): Promise<NatsConnection> {
  return connect({
    servers: url,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
    timeout: 5_000,
  });
}

/** Count and last message of one subject in a stream (no consumer involved). */
export async function subjectState<T>(
  nc: NatsConnection,
  stream: string,
  subject: string,
): Promise<StreamSubjectState<T>> {
  const jsm = await jetstreamManager(nc, { timeout: 3_000 });
  const info = await jsm.streams.info(stream, { subjects_filter: subject });
  const count = info.state.subjects?.[subject] ?? 0;
  if (count === 0) return { count, last: undefined };
  const m = await jsm.streams.getMessage(stream, { last_by_subj: subject });
  if (!m) return { count, last: undefined };
  return {
    count,
    last: {
      data: JSON.parse(new TextDecoder().decode(m.data)) as T,
      raw: m.data,
      headers: m.header,
      seq: m.seq,
    },
  };
}

/** A loopback port that nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** A random marker for a script, safe in `sh` and unique enough for `pgrep -f`. */
export function marker(): string {
  return String(Math.floor(Math.random() * 1e9)).padStart(9, "1");
}

/** Pids of live processes whose command line contains `pattern` (pgrep -f), this one excluded. */
export function pidsMatching(pattern: string): number[] {
  try {
    const out = execFileSync("pgrep", ["-f", pattern], { encoding: "utf8" });
    return out
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map(Number)
      .filter((pid) => pid !== process.pid && isAlive(pid));
  } catch {
    // pgrep exits 1 when nothing matches.
    return [];
  }
}

/** SIGKILLs, by pid, the processes `pidsMatching(pattern)` finds (leftovers of a test). */
export function killMatching(pattern: string): void {
  for (const pid of pidsMatching(pattern)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Gone meanwhile.
    }
  }
}

/** Alive and not a zombie (a zombie is already dead; only its parent has not reaped it). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}
