// The scenario context: real nats-server nodes, real agent processes (each behind one FaultyProxy
// per node), a test client, the run log and the RESULTS harvest that the tally is made from.

import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { bootstrapKanade } from "../src/services/nats/resources.js";
import {
  commandsAll,
  commandsGroup,
  commandsPc,
  KV_AGENT_GROUPS,
  pingSubject,
  replayConsumerName,
  STREAM_EXEC,
  STREAM_RESULTS,
} from "../src/services/nats/subjects.js";
import type { Random } from "../src/services/time/clock.js";
import {
  decodeExecResult,
  encodeAgentGroups,
  encodeCommand,
  parseJson,
} from "../src/services/wire/index.js";
import type { Command } from "../src/services/wire/types.js";
import {
  AgentProcess,
  type LogLine,
  type LogMatcher,
  REPO_ROOT,
} from "../test/helpers/agentProcess.js";
import { FaultyProxy } from "../test/helpers/faultyProxy.js";
import { NatsServer } from "../test/helpers/natsServer.js";
import { removeTempDir, tempDir } from "../test/helpers/tmp.js";
import { sleep, waitFor } from "../test/helpers/waitFor.js";
import { bootstrapReplicated, NatsCluster } from "./cluster.js";
import { type DiskFill, fillDirectory } from "./diskFull.js";
import type {
  AgentOptions,
  CommandOptions,
  DiskFillHandle,
  ResultsSpec,
  ScenarioContext,
  Target,
  WaitEvent,
} from "./dsl.js";
import { faketimeLibrary } from "./faketime.js";
import { childrenMatching, killMatching, pidsMatching } from "./processes.js";
import { intBetween } from "./random.js";
import type { ScenarioRow } from "./table.js";
import { type Expectation, parseRunLog, type ResultRecord, tally } from "./tally.js";

interface AgentRec {
  id: string;
  opts: AgentOptions;
  proc: AgentProcess;
  proxies: FaultyProxy[];
  /** Log position at the last (re)start. */
  startMark: number;
  faketimeFile: string | undefined;
  groups: string[];
}

interface SentCommand {
  subject: string;
  body: string;
  /** Null: a group's members, looked up when the promises are checked. */
  receivers: string[] | null;
  group: string | undefined;
  kind: "once" | "skipped" | "none";
  exitCode: number | undefined;
}

const REPLICAS = 3;

export class ScenarioRun implements ScenarioContext {
  readonly random: Random;
  readonly seed: number;
  readonly scale: "fast" | "full";
  readonly marker: string;
  readonly root: string;
  readonly runLog: string;
  readonly #name: string;
  readonly #t0 = Date.now();
  readonly #progress: (line: string) => void;
  readonly #keepLogs: boolean;
  #nodes: NatsServer[] = [];
  #cluster: NatsCluster | undefined;
  #nc: NatsConnection | undefined;
  readonly #agents = new Map<string, AgentRec>();
  readonly #retired: AgentProcess[] = [];
  readonly #sent = new Map<string, SentCommand>();
  #publishes = 0;
  readonly #faults: string[] = [];
  #lastHealAt: number | null = null;
  #lastFaultAt: number | null = null;
  #allResultsAt: number | null = null;
  readonly #broken: string[] = [];
  readonly #notes: string[] = [];
  #orphans = 0;
  /** Simulated jump: deadlines are computed this much behind (see clockJump). */
  #clockOffsetMs = 0;
  /** Real jump: the offset written to the agents' libfaketime file. */
  #agentClockMs = 0;
  #lastKilled = 0;
  readonly #fills: DiskFill[] = [];
  // RESULTS harvest: durable truth, kept across a store wipe (keyed by stream creation time).
  readonly #harvested = new Map<string, ResultRecord>();
  #epoch = "";
  #cursor = 0;
  #harvesting: Promise<void> | undefined;

  constructor(opts: {
    name: string;
    seed: number;
    random: Random;
    scale: "fast" | "full";
    progress?: (line: string) => void;
    keepLogs?: boolean;
  }) {
    this.#name = opts.name;
    this.seed = opts.seed;
    this.random = opts.random;
    this.scale = opts.scale;
    this.#progress = opts.progress ?? (() => {});
    this.#keepLogs = opts.keepLogs ?? false;
    // Nine digits: a fractional part `sleep` accepts, unique enough for `pgrep -f`.
    this.marker = String(100_000_000 + Math.floor(this.random() * 899_999_999));
    this.root = tempDir("kanade-faults-");
    this.runLog = join(this.root, "runs.log");
    writeFileSync(this.runLog, "");
  }

  // ── Small helpers ──────────────────────────────────────────────────────────────────────────

  size(fast: number, full: number): number {
    return this.scale === "fast" ? fast : full;
  }

  between(lo: number, hi: number): number {
    return intBetween(this.random, lo, hi);
  }

  sleep(ms: number): Promise<void> {
    return sleep(ms);
  }

  elapsed(): number {
    return Date.now() - this.#t0;
  }

  note(text: string): void {
    this.#notes.push(text);
  }

  sleepScript(secs: number): string {
    return `sleep ${Math.max(0, Math.floor(secs))}.${this.marker}`;
  }

  #step(text: string): void {
    this.#progress(`[${this.#name} +${(this.elapsed() / 1000).toFixed(1)}s] ${text}`);
  }

  #fault(name: string): void {
    this.#faults.push(name);
    this.#lastFaultAt = Date.now();
    this.#step(`fault: ${name}`);
  }

  #healed(what: string): void {
    this.#lastHealAt = Date.now();
    this.#step(`healed: ${what}`);
  }

  get #client(): NatsConnection {
    if (!this.#nc) throw new Error("no broker: call startBroker() or startCluster() first");
    return this.#nc;
  }

  #agent(id: string): AgentRec {
    const a = this.#agents.get(id);
    if (!a) throw new Error(`no agent ${JSON.stringify(id)} in this scenario`);
    return a;
  }

  #node(i: number): NatsServer {
    const n = this.#nodes[i];
    if (!n) throw new Error(`no broker node ${i} (have ${this.#nodes.length})`);
    return n;
  }

  // ── Brokers ────────────────────────────────────────────────────────────────────────────────

  async startBroker(opts: { bootstrap?: boolean } = {}): Promise<void> {
    const server = await NatsServer.start();
    this.#nodes = [server];
    this.#nc = await connectClient([server.url]);
    if (opts.bootstrap ?? true) await bootstrapKanade(this.#nc);
    this.#step(`broker on ${server.url}`);
  }

  async startCluster(size = 3): Promise<void> {
    this.#cluster = await NatsCluster.start({ size });
    this.#nodes = [...this.#cluster.nodes];
    this.#nc = await connectClient(this.#cluster.urls);
    await this.#cluster.waitJetStream(this.#nc);
    await bootstrapReplicated(this.#nc, Math.min(REPLICAS, size));
    this.#step(`cluster of ${size} on ${this.#cluster.urls.join(" ")}`);
  }

  async recreateResources(): Promise<void> {
    if (this.#cluster) await bootstrapReplicated(this.#client, REPLICAS);
    else
      await waitFor(
        async () => {
          await bootstrapKanade(this.#client);
          return true;
        },
        { timeoutMs: 30_000, intervalMs: 250, what: "the resource set to be created again" },
      );
    this.#healed("resources re-created");
  }

  async brokerOf(agent: string): Promise<number> {
    if (!this.#cluster) return 0;
    const name = `kanade-agent-${this.#agent(agent).id}`;
    let at = -1;
    await waitFor(
      async () => {
        at = await this.#cluster!.nodeOfConnection(name);
        return at >= 0;
      },
      { timeoutMs: 30_000, intervalMs: 100, what: `a node holding ${name}` },
    );
    return at;
  }

  async #defaultNode(): Promise<number> {
    const first = this.#agents.keys().next();
    return first.done ? 0 : this.brokerOf(first.value);
  }

  async killBroker(node?: number): Promise<number> {
    const i = node ?? (await this.#defaultNode());
    // A single node's store survives a kill; harvest anyway, a later empty restart would not.
    await this.#harvestQuietly();
    await this.#node(i).stop();
    this.#lastKilled = i;
    this.#fault(`broker-kill n${i + 1}`);
    return i;
  }

  async restartBroker(node?: number, opts: { emptyStore?: boolean } = {}): Promise<void> {
    const i = node ?? this.#lastKilled;
    if (opts.emptyStore) {
      if (this.#node(i).running) await this.#harvestQuietly();
      this.#fault(`empty-store n${i + 1}`);
    }
    await this.#node(i).restart({ emptyStore: opts.emptyStore ?? false });
    this.#healed(`broker n${i + 1} restarted`);
  }

  async lameDuckBroker(node?: number): Promise<number> {
    const i = node ?? (await this.#defaultNode());
    await this.#node(i).lameDuck();
    this.#lastKilled = i;
    this.#fault(`lame-duck n${i + 1}`);
    await this.#node(i).exited();
    this.#step(`node n${i + 1} left lame duck mode and exited`);
    return i;
  }

  async freezeBroker(ms: number, node?: number): Promise<void> {
    const n = this.#node(node ?? 0);
    await n.freeze();
    this.#fault(`freeze ${ms}ms`);
    await sleep(ms);
    n.thaw();
    this.#healed("broker thawed");
  }

  // ── Agents ─────────────────────────────────────────────────────────────────────────────────

  async startAgent(id: string, opts: AgentOptions = {}): Promise<void> {
    if (this.#agents.has(id)) throw new Error(`agent ${id} already started`);
    if (this.#nodes.length === 0) throw new Error("start a broker before the agents");
    const proxies = await Promise.all(
      this.#nodes.map((n) => FaultyProxy.start({ upstreamPort: n.port })),
    );
    const groups = opts.groups ?? [];
    if (groups.length > 0) await this.#writeGroups(id, groups);
    const dir = tempDir("kanade-faults-agent-");
    const faketimeFile = opts.faketime && faketimeLibrary() ? join(dir, "faketime.rc") : undefined;
    if (faketimeFile) writeFileSync(faketimeFile, "+0\n");
    const rec: AgentRec = {
      id,
      opts,
      proxies,
      proc: this.#newProcess(id, dir, proxies, opts, faketimeFile),
      startMark: 0,
      faketimeFile,
      groups,
    };
    this.#agents.set(id, rec);
    await rec.proc.start();
    this.#step(`agent ${id} started (pid ${rec.proc.pid})`);
    if (opts.waitReady ?? true) await this.waitFor({ ready: id });
  }

  #newProcess(
    id: string,
    dir: string,
    proxies: readonly FaultyProxy[],
    opts: AgentOptions,
    faketimeFile: string | undefined,
  ): AgentProcess {
    const env: Record<string, string | undefined> = { FAULTS_PC_ID: id };
    const lib = faketimeLibrary();
    if (faketimeFile && lib) {
      Object.assign(env, {
        LD_PRELOAD: lib,
        FAKETIME_TIMESTAMP_FILE: faketimeFile,
        // Re-read the offset once a second: a jump lands within a second, at little cost.
        FAKETIME_CACHE_DURATION: "1",
        // Timeouts, jitter and staleness run on the monotonic clock, which must not jump.
        FAKETIME_DONT_FAKE_MONOTONIC: "1",
      });
    }
    const urls = proxies.map((p) => p.url);
    return new AgentProcess({
      id,
      dir,
      // A private build of the agent (e.g. a snapshot while dist/ is being rebuilt by others).
      ...(process.env.FAULTS_AGENT_ENTRY ? { entry: process.env.FAULTS_AGENT_ENTRY } : {}),
      natsUrl: urls.length === 1 ? urls[0] : urls,
      log: { level: opts.logLevel ?? "info" },
      env,
    });
  }

  async #writeGroups(id: string, groups: readonly string[]): Promise<void> {
    const kv = await new Kvm(this.#client).open(KV_AGENT_GROUPS);
    await kv.put(id, JSON.stringify(encodeAgentGroups({ groups: [...groups] })));
  }

  mark(agent: string): number {
    return this.#agent(agent).proc.mark();
  }

  countLog(agent: string, match: LogMatcher, since = 0): number {
    const proc = this.#agent(agent).proc;
    return proc.logs.filter((l) => l.seq >= since && logMatches(l, match)).length;
  }

  async killAgent(id: string, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const a = this.#agent(id);
    if (signal === "SIGKILL") await a.proc.kill();
    else await a.proc.stop(signal, 10_000);
    this.#fault(`agent-${signal.toLowerCase()}`);
  }

  /** SIGKILLs every spawn helper of the agent (a second one runs while two commands start). */
  async killSpawnHelper(agent: string): Promise<void> {
    const a = this.#agent(agent);
    const helpers = childrenMatching(a.proc.pid, "spawn helper");
    if (helpers.length === 0) throw new Error(`agent ${agent} has no spawn helper running`);
    for (const helper of helpers) process.kill(helper, "SIGKILL");
    this.#fault("spawn-helper-sigkill");
  }

  async restartAgent(id: string, opts: { waitReady?: boolean } = {}): Promise<void> {
    const a = this.#agent(id);
    if (a.proc.running) throw new Error(`agent ${id} is still running`);
    this.#retired.push(a.proc);
    a.proc = this.#newProcess(id, a.proc.dir, a.proxies, a.opts, a.faketimeFile);
    a.startMark = 0;
    await a.proc.start();
    this.#healed(`agent ${id} restarted`);
    if (opts.waitReady ?? true) await this.waitFor({ ready: id });
  }

  async partition(agent: string, ms: number): Promise<void> {
    const a = this.#agent(agent);
    for (const p of a.proxies) {
      p.refuse(true);
      p.cut();
    }
    this.#fault(`partition ${ms}ms`);
    await sleep(ms);
    for (const p of a.proxies) p.refuse(false);
    this.#healed(`partition of ${agent}`);
  }

  async blackhole(agent: string, ms: number): Promise<void> {
    const a = this.#agent(agent);
    for (const p of a.proxies) p.blackhole(true);
    this.#fault(`blackhole ${Math.round(ms / 1000)}s`);
    await sleep(ms);
    for (const p of a.proxies) p.blackhole(false);
    this.#healed(`black hole of ${agent}`);
  }

  async deleteConsumer(agent: string): Promise<void> {
    const jsm = await jetstreamManager(this.#client, { timeout: 5_000 });
    await jsm.consumers.delete(STREAM_EXEC, replayConsumerName(this.#agent(agent).id));
    this.#fault("consumer-delete");
  }

  async deleteStream(name: string): Promise<void> {
    if (name === STREAM_RESULTS) await this.#harvestQuietly();
    const jsm = await jetstreamManager(this.#client, { timeout: 5_000 });
    await jsm.streams.delete(name);
    this.#fault(`stream-delete ${name}`);
  }

  async fillDisk(agent: string): Promise<DiskFillHandle> {
    const a = this.#agent(agent);
    const fill = fillDirectory(join(a.proc.dataDir, "outbox"));
    this.#fills.push(fill);
    this.#fault(`outbox-full (${fill.mode})`);
    return {
      mode: fill.mode,
      release: async () => {
        fill.release();
        this.#healed("outbox space released");
      },
    };
  }

  async clockJump(ms: number): Promise<"faketime" | "shifted-deadlines"> {
    const agents = [...this.#agents.values()];
    const real = agents.length > 0 && agents.every((a) => a.faketimeFile !== undefined);
    if (real) {
      this.#agentClockMs += ms;
      const secs = Math.round(this.#agentClockMs / 1000);
      for (const a of agents) writeFileSync(a.faketimeFile!, `${secs >= 0 ? "+" : ""}${secs}\n`);
      // FAKETIME_CACHE_DURATION is 1 s: after 1.5 s every agent reads the new offset.
      await sleep(1_500);
    } else {
      this.#clockOffsetMs += ms;
    }
    const mode = real ? "faketime" : "shifted-deadlines";
    this.#fault(`clock-jump ${Math.round(ms / 60_000)}min (${mode})`);
    return mode;
  }

  // ── Commands ───────────────────────────────────────────────────────────────────────────────

  async publishCommand(target: Target, script: string, opts: CommandOptions = {}): Promise<string> {
    const requestId = opts.requestId ?? `req-${randomUUID()}`;
    if (this.#sent.has(requestId)) throw new Error(`request_id ${requestId} was already sent`);
    const cmd: Command = {
      id: "faults-scenario",
      version: "1.0.0",
      requestId,
      execId: opts.execId === undefined ? `exec-${randomUUID()}` : opts.execId,
      shell: "sh",
      script: `printf '%s %s\\n' '${requestId}' "$FAULTS_PC_ID" >> '${this.runLog}'\n${script}`,
      timeoutSecs: opts.timeoutSecs ?? 30,
      jitterSecs: null,
      runAs: "system",
      staleness: { mode: "cached" },
    };
    // The agent compares deadlines with its own wall clock; after a simulated jump it is as if
    // that clock were ahead of ours by the offset (see clockJump). A real jump needs no shift.
    if (opts.deadlineInMs !== undefined)
      cmd.deadlineAt = Date.now() + opts.deadlineInMs - this.#clockOffsetMs;
    const subject =
      target === "all"
        ? commandsAll()
        : "pc" in target
          ? commandsPc(target.pc)
          : commandsGroup(target.group);
    const receivers =
      opts.receivers ??
      (target === "all" ? [...this.#agents.keys()] : "pc" in target ? [target.pc] : null);
    this.#sent.set(requestId, {
      subject,
      body: JSON.stringify(encodeCommand(cmd)),
      receivers: receivers === null ? null : [...receivers],
      group: target !== "all" && "group" in target ? target.group : undefined,
      kind: opts.expect ?? "once",
      exitCode: opts.exitCode,
    });
    await this.#send(requestId, opts.via ?? "jetstream", opts.flush ?? true);
    return requestId;
  }

  async republish(
    requestId: string,
    opts: { via?: "jetstream" | "core"; flush?: boolean } = {},
  ): Promise<void> {
    await this.#send(requestId, opts.via ?? "jetstream", opts.flush ?? true);
  }

  async flush(): Promise<void> {
    await this.#client.flush();
  }

  async #send(requestId: string, via: "jetstream" | "core", flush: boolean): Promise<void> {
    const sent = this.#sent.get(requestId);
    if (!sent) throw new Error(`unknown request_id ${requestId}`);
    this.#publishes++;
    if (via === "core") {
      this.#client.publish(sent.subject, sent.body);
      if (flush) await this.#client.flush();
      return;
    }
    // Retried until EXEC stored it: a cluster may be electing a leader. A retry after a lost
    // PubAck may store the command twice, which is one more duplicate for the agent's ledger.
    const js = jetstream(this.#client, { timeout: 5_000 });
    await waitFor(
      async () => {
        await js.publish(sent.subject, sent.body);
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 250, what: `EXEC to store ${requestId}` },
    );
  }

  // ── Waiting ────────────────────────────────────────────────────────────────────────────────

  async waitFor(event: WaitEvent, timeoutMs = 30_000): Promise<void> {
    if ("running" in event) {
      const rid = event.running;
      await waitFor(() => this.#runs().some((r) => r.requestId === rid), {
        timeoutMs,
        intervalMs: 20,
        what: `${rid} to start`,
      });
    } else if ("executed" in event) {
      const n = event.executed;
      await waitFor(() => this.#runs().filter((r) => this.#sent.has(r.requestId)).length >= n, {
        timeoutMs,
        intervalMs: 20,
        what: `${n} script starts`,
      });
    } else if ("result" in event) {
      const rid = event.result;
      await waitFor(
        async () => {
          await this.#harvest();
          return [...this.#harvested.values()].some((r) => r.requestId === rid);
        },
        { timeoutMs, intervalMs: 100, what: `a result of ${rid} in RESULTS` },
      );
    } else if ("ready" in event) {
      const a = this.#agent(event.ready);
      await a.proc.waitForLog({ msg: "replay consumer ready" }, timeoutMs, { after: a.startMark });
    } else if ("connected" in event) {
      const a = this.#agent(event.connected);
      await a.proc.waitForLog({ msg: /^(re)?connected$/ }, timeoutMs, {
        after: event.since ?? a.startMark,
      });
    } else if ("log" in event) {
      const a = this.#agent(event.log);
      await a.proc.waitForLog(event.match, timeoutMs, { after: event.since ?? a.startMark });
    } else if ("replicasCurrent" in event) {
      if (!this.#cluster) throw new Error("replicasCurrent needs a cluster");
      await this.#cluster.waitReplicasCurrent(this.#client, timeoutMs);
    } else {
      if (!this.#cluster) throw new Error("movedFrom needs a cluster");
      const name = `kanade-agent-${this.#agent(event.agent).id}`;
      await this.#cluster.waitConnectionMoved(name, event.movedFrom, timeoutMs);
    }
  }

  #runs() {
    return parseRunLog(readFileSync(this.runLog, "utf8"));
  }

  // ── RESULTS harvest ────────────────────────────────────────────────────────────────────────

  /** Reads what RESULTS holds beyond the cursor; one harvest at a time. */
  #harvest(): Promise<void> {
    if (!this.#harvesting) {
      this.#harvesting = this.#harvestOnce().finally(() => {
        this.#harvesting = undefined;
      });
    }
    return this.#harvesting;
  }

  async #harvestQuietly(): Promise<void> {
    await Promise.race([this.#harvest().catch(() => {}), sleep(5_000)]);
  }

  async #harvestOnce(): Promise<void> {
    const jsm = await jetstreamManager(this.#client, { timeout: 3_000 });
    let info: Awaited<ReturnType<typeof jsm.streams.info>>;
    try {
      info = await jsm.streams.info(STREAM_RESULTS);
    } catch (err) {
      if (/not found/i.test(String(err))) return;
      throw err;
    }
    if (info.created !== this.#epoch) {
      this.#epoch = info.created;
      this.#cursor = 0;
    }
    const last = info.state.last_seq;
    if (last <= this.#cursor) return;
    const consumer = await jetstream(this.#client).consumers.get(STREAM_RESULTS, {
      opt_start_seq: this.#cursor + 1,
    });
    while (this.#cursor < last) {
      const want = Math.min(1_000, last - this.#cursor);
      const batch = await consumer.fetch({ max_messages: want, expires: 3_000 });
      let got = 0;
      for await (const m of batch) {
        got++;
        this.#cursor = m.seq;
        const r = parseResult(m.data);
        if (r) this.#harvested.set(`${this.#epoch}:${m.seq}`, r);
      }
      if (got === 0) break;
    }
  }

  // ── Assertions ─────────────────────────────────────────────────────────────────────────────

  async expectResults(spec: ResultsSpec = {}, timeoutMs = 60_000): Promise<void> {
    const listed = new Set<string>();
    const list = (rids: readonly string[] | "all" | undefined) =>
      rids === "all" ? [...this.#sent.keys()] : (rids ?? []);
    for (const rid of list(spec.exactlyOnce)) {
      this.#sentCommand(rid).kind = "once";
      listed.add(rid);
    }
    for (const rid of spec.skipped ?? []) {
      this.#sentCommand(rid).kind = "skipped";
      listed.add(rid);
    }
    for (const [rid, code] of Object.entries(spec.exitCodes ?? {}))
      this.#sentCommand(rid).exitCode = code;
    if (listed.size === 0)
      for (const [rid, c] of this.#sent) if (c.kind !== "none") listed.add(rid);

    const expectations = this.#expectations().filter((e) => listed.has(e.requestId));
    const missing = () => {
      const have = new Set([...this.#harvested.values()].map((r) => `${r.requestId} ${r.pcId}`));
      return expectations.filter((e) => !have.has(`${e.requestId} ${e.pcId}`));
    };
    try {
      await waitFor(
        async () => {
          await this.#harvest();
          return missing().length === 0;
        },
        { timeoutMs, intervalMs: 100, what: `${expectations.length} results` },
      );
      this.#allResultsAt = Date.now();
    } catch {
      // Counted as lost below.
    }
    await this.#settle();
    await this.#harvest().catch(() => {});
    const t = tally(expectations, listed, this.#runs(), [...this.#harvested.values()]);
    for (const p of t.problems) this.#broken.push(`exactly-once: ${p}`);
    this.#step(
      `results: ${t.received} for ${t.expected} expected, ${t.duplicates} duplicates, ${t.lost} lost`,
    );
  }

  /** Outboxes empty and replay consumers drained, so a late duplicate would be seen. */
  async #settle(timeoutMs = 20_000): Promise<void> {
    const running = [...this.#agents.values()].filter((a) => a.proc.running);
    let state = "";
    try {
      await waitFor(
        async () => {
          for (const a of running) {
            for (const box of ["outbox", "events-outbox"]) {
              const dir = join(a.proc.dataDir, box);
              const files = existsSync(dir)
                ? readdirSync(dir).filter((f) => f.endsWith(".json")).length
                : 0;
              state = `${a.id} ${box}/ holds ${files} file(s)`;
              if (files > 0) return false;
            }
          }
          const jsm = await jetstreamManager(this.#client, { timeout: 3_000 });
          for (const a of running) {
            state = `replay durable of ${a.id} not found`;
            const c = await jsm.consumers.info(STREAM_EXEC, replayConsumerName(a.id));
            state = `replay durable of ${a.id}: ${c.num_pending} pending, ${c.num_ack_pending} unacked, ${c.num_waiting} pull(s) waiting`;
            if (c.num_pending > 0 || c.num_ack_pending > 0) return false;
          }
          return true;
        },
        { timeoutMs, intervalMs: 200, what: "outboxes empty and replay drained" },
      );
    } catch {
      this.note(`did not settle within ${timeoutMs / 1000}s: ${state}`);
    }
    // Anything in flight (a drain pass, a redelivery) has a moment to show up.
    await sleep(1_000);
  }

  async expectNoProcessesLeft(graceMs = 10_000): Promise<void> {
    try {
      await waitFor(() => pidsMatching(this.marker).length === 0, {
        timeoutMs: graceMs,
        intervalMs: 100,
        what: "marked processes to end",
      });
    } catch {
      const left = killMatching(this.marker);
      this.#orphans += left;
      if (left > 0) this.#broken.push(`${left} process(es) of the scenario still running`);
    }
  }

  async expectAgentAlive(id?: string): Promise<void> {
    const ids = id ? [id] : [...this.#agents.keys()];
    for (const a of ids) {
      const rec = this.#agent(a);
      if (!rec.proc.running) {
        this.#broken.push(`agent ${a} is not running`);
        continue;
      }
      try {
        await waitFor(
          async () => {
            await this.#client.request(pingSubject(rec.id), "", { timeout: 2_000 });
            return true;
          },
          { timeoutMs: 20_000, intervalMs: 250, what: `agent ${a} to answer a ping` },
        );
      } catch (err) {
        this.#broken.push(`agent ${a} does not answer pings: ${String(err).slice(0, 200)}`);
      }
    }
  }

  #sentCommand(rid: string): SentCommand {
    const c = this.#sent.get(rid);
    if (!c) throw new Error(`request_id ${rid} was not sent by this scenario`);
    return c;
  }

  #expectations(): Expectation[] {
    const out: Expectation[] = [];
    for (const [requestId, c] of this.#sent) {
      if (c.kind === "none") continue;
      const receivers =
        c.receivers ??
        [...this.#agents.values()].filter((a) => a.groups.includes(c.group ?? "")).map((a) => a.id);
      for (const pcId of receivers) {
        const e: Expectation = { requestId, pcId, kind: c.kind };
        if (c.exitCode !== undefined) e.exitCode = c.exitCode;
        out.push(e);
      }
    }
    return out;
  }

  // ── End of run ─────────────────────────────────────────────────────────────────────────────

  /** Records a failure that ended the scenario early. */
  fail(err: unknown): void {
    const text = err instanceof Error ? err.message : String(err);
    this.#broken.push(`scenario failed: ${text.split("\n").slice(0, 6).join(" | ").slice(0, 600)}`);
  }

  /** Final harvest and tally, then everything started is stopped and removed. */
  async finish(): Promise<ScenarioRow> {
    await this.#harvestQuietly();
    const expectations = this.#expectations();
    const sent = new Set(this.#sent.keys());
    const t = tally(expectations, sent, this.#runs(), [...this.#harvested.values()]);
    const orphansNow = killMatching(this.marker);
    if (orphansNow > 0 && this.#orphans === 0)
      this.note(`${orphansNow} marked process(es) still running at the end (killed)`);
    const row: ScenarioRow = {
      scenario: this.#name,
      seed: this.seed,
      faults: [...this.#faults],
      sent: this.#publishes,
      executed: t.executed,
      received: t.received,
      duplicates: t.duplicates,
      lost: t.lost,
      orphans: this.#orphans + orphansNow,
      recoverMs: this.#recoverMs(),
      durationMs: this.elapsed(),
      broken: [...new Set(this.#broken)],
      notes: [...this.#notes],
    };
    if (row.broken.length > 0 || this.#keepLogs) {
      const where = this.#saveLogs();
      if (where) row.notes.push(`agent logs: ${where}`);
    }
    await this.close();
    return row;
  }

  /** From the last heal (or, for a fault nothing heals, the fault) to the last result. */
  #recoverMs(): number | null {
    const from = this.#lastHealAt ?? this.#lastFaultAt;
    if (from === null || this.#allResultsAt === null) return null;
    return Math.max(0, this.#allResultsAt - from);
  }

  /** Keeps the agents' output of a broken run under `.tmp/faults-logs/` (git-ignored). */
  #saveLogs(): string | undefined {
    try {
      const dir = join(REPO_ROOT, ".tmp", "faults-logs", `${this.#name}-${this.seed}`);
      mkdirSync(dir, { recursive: true });
      const procs = [...this.#retired, ...[...this.#agents.values()].map((a) => a.proc)];
      procs.forEach((p, i) => {
        const text = p.logs.map((l) => l.text).join("\n");
        writeFileSync(join(dir, `${i}-${p.pcId}.log`), `${text}\n`);
      });
      return dir;
    } catch {
      return undefined;
    }
  }

  async close(): Promise<void> {
    for (const a of this.#agents.values()) {
      await a.proc.kill();
      for (const p of a.proxies) await p.close().catch(() => {});
    }
    for (const p of this.#retired) await p.kill();
    for (const f of this.#fills) {
      try {
        f.dispose();
      } catch (err) {
        this.note(`could not undo the full outbox: ${String(err)}`);
      }
    }
    killMatching(this.marker);
    await this.#nc?.close().catch(() => {});
    if (this.#cluster) await this.#cluster.stop();
    else for (const n of this.#nodes) await n.stop();
    for (const n of this.#nodes) removeTempDir(n.workDir);
    for (const a of this.#agents.values()) removeTempDir(a.proc.dir);
    removeTempDir(this.root);
  }
}

/** A client that reconnects forever and knows every node (fault scenarios kill brokers). */
function connectClient(urls: string[]): Promise<NatsConnection> {
  return connect({
    servers: urls,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
    timeout: 5_000,
    name: "kanade-faults-client",
  });
}

function parseResult(data: Uint8Array): ResultRecord | null {
  const json = parseJson(data);
  if (!json.ok) return null;
  const r = decodeExecResult(json.value);
  if (!r.ok) return null;
  const { requestId, pcId, resultId, exitCode } = r.value;
  return { requestId, pcId, resultId, exitCode };
}

/** Same rule as AgentProcess.waitForLog: a predicate, or fields a JSON line must have. */
function logMatches(line: LogLine, match: LogMatcher): boolean {
  if (typeof match === "function") return match(line);
  return Object.entries(match).every(([key, want]) => {
    const have = line.json ? line.json[key] : key === "msg" ? line.text : undefined;
    return want instanceof RegExp ? have !== undefined && want.test(String(have)) : have === want;
  });
}
