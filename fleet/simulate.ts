// `npm run fleet -- --agents 500`: N simulated agents (fleet/simAgent.ts) in this process against
// one real nats-server on loopback. Measures start-up, heartbeats/s, the fan-out of one
// `commands.all` to N results, and the way back after a broker SIGKILL + restart (all N
// reconnected, all N answering a broadcast, connection attempts per agent per 10 s).

import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { Command, InvalidArgumentError } from "commander";
import { bootstrapKanade } from "../src/services/nats/resources.js";
import { commandsAll, heartbeatWildcard, resultsWildcard } from "../src/services/nats/subjects.js";
import { FIRST_TICK_SPREAD_CAP_MS } from "../src/services/perf/firstTickSpread.js";
import { systemClock } from "../src/services/time/clock.js";
import { decodeExecResult, encodeCommand, parseJson } from "../src/services/wire/index.js";
import { AGENT_VERSION } from "../src/version.js";
import { NatsServer } from "../test/helpers/natsServer.js";
import { removeTempDir } from "../test/helpers/tmp.js";
import { sleep, waitFor } from "../test/helpers/waitFor.js";
import { CountingProxy } from "./countingProxy.js";
import { formatMs, maxInWindow, percentile, summarize } from "./metrics.js";
import { SimAgent } from "./simAgent.js";

interface FleetArgs {
  agents: number;
  heartbeatMs: number;
  downMs: number;
  fanouts: number;
  batch: number;
  waitMs: number;
}

const TARGET_BACK_MS = 30_000;
const TARGET_ATTEMPTS_PER_10S = 3;
const TARGET_FANOUT_P99_MS = 2_000;

function int(what: string, min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${what} must be ≥ ${min}`);
    return n;
  };
}

function parseArgs(argv: readonly string[]): FleetArgs {
  const p = new Command("fleet")
    .description("Simulate N agents' NATS behaviour against one nats-server and measure it")
    .option("--agents <n>", "simulated agents", int("--agents", 1), 500)
    .option("--heartbeat-ms <ms>", "heartbeat interval", int("--heartbeat-ms", 100), 30_000)
    .option("--down-ms <ms>", "how long the broker stays down", int("--down-ms", 0), 2_000)
    .option("--fanouts <n>", "broadcasts measured before the restart", int("--fanouts", 1), 3)
    .option("--batch <n>", "agents connecting at once during start-up", int("--batch", 1), 100)
    .option("--wait-ms <ms>", "limit of every wait", int("--wait-ms", 1_000), 120_000);
  p.parse([...argv], { from: "user" });
  return p.opts<FleetArgs>();
}

/** Resident memory and CPU seconds of a process, from /proc (Linux); NaN elsewhere. */
function processUsage(pid: number): { rssMiB: number; cpuSecs: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 of stat, in clock ticks (100/s on Linux).
    const ticks = Number(fields[11]) + Number(fields[12]);
    return { rssMiB: rssKb / 1024, cpuSecs: ticks / 100 };
  } catch {
    return { rssMiB: Number.NaN, cpuSecs: Number.NaN };
  }
}

class Monitor {
  readonly heartbeatTimes: number[] = [];
  readonly #arrivals = new Map<string, Map<string, number>>();

  constructor(readonly nc: NatsConnection) {
    nc.subscribe(heartbeatWildcard(), {
      callback: () => {
        if (this.heartbeatTimes.length < 2_000_000) this.heartbeatTimes.push(Date.now());
      },
    });
    nc.subscribe(resultsWildcard(), {
      callback: (err, m) => {
        if (err) return;
        const json = parseJson(m.data);
        const r = json.ok ? decodeExecResult(json.value) : undefined;
        if (!r?.ok) return;
        const seen = this.#arrivals.get(r.value.requestId);
        if (seen && !seen.has(r.value.pcId)) seen.set(r.value.pcId, Date.now());
      },
    });
  }

  /** Publishes one `commands.all`; resolves with per-agent result latencies (ms). */
  async fanOut(expected: number, waitMs: number, from?: number): Promise<number[]> {
    const requestId = `fleet-${randomUUID()}`;
    const arrivals = new Map<string, number>();
    this.#arrivals.set(requestId, arrivals);
    const body = encodeCommand({
      id: "fleet-fanout",
      version: "1.0.0",
      requestId,
      execId: `exec-${randomUUID()}`,
      shell: "sh",
      script: "true",
      timeoutSecs: 30,
      jitterSecs: null,
      runAs: "system",
      staleness: { mode: "cached" },
    });
    // After a broker restart the monitor may still be reconnecting: a flush fails until it is back.
    const flushed = () =>
      waitFor(
        async () => {
          await this.nc.flush();
          return true;
        },
        { timeoutMs: waitMs, intervalMs: 50, what: "the monitor connection" },
      );
    await flushed();
    const t0 = from ?? Date.now();
    this.nc.publish(commandsAll(), JSON.stringify(body));
    await flushed();
    await waitFor(() => arrivals.size >= expected, {
      timeoutMs: waitMs,
      intervalMs: 20,
      what: `${expected} results of ${requestId}`,
    }).catch(() => {});
    this.#arrivals.delete(requestId);
    return [...arrivals.values()].map((t) => t - t0);
  }

  heartbeatsPerSec(fromMs: number, toMs: number): number {
    const n = this.heartbeatTimes.filter((t) => t >= fromMs && t < toMs).length;
    return n / Math.max(0.001, (toMs - fromMs) / 1000);
  }

  maxHeartbeatsInOneSecond(fromMs: number, toMs: number): number {
    return maxInWindow(
      this.heartbeatTimes.filter((t) => t >= fromMs && t < toMs),
      1_000,
    );
  }
}

function line(label: string, value: string, target?: { ok: boolean; text: string }): void {
  const verdict = target ? `  [target ${target.text}: ${target.ok ? "met" : "MISSED"}]` : "";
  console.log(`  ${label.padEnd(48)} ${value}${verdict}`);
}

function fanOutLine(label: string, lat: readonly number[], n: number): boolean {
  const s = summarize(lat);
  const ok = s.count === n && s.p99 < TARGET_FANOUT_P99_MS;
  line(
    label,
    `${s.count}/${n} results; p50 ${formatMs(s.p50)}, p99 ${formatMs(s.p99)}, max ${formatMs(s.max)}`,
    { ok, text: `all, p99 < ${formatMs(TARGET_FANOUT_P99_MS)}` },
  );
  return ok;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const n = args.agents;
  console.log(
    `fleet: ${n} simulated agents, heartbeat every ${formatMs(args.heartbeatMs)}, broker down ${formatMs(args.downMs)}`,
  );
  const server = await NatsServer.start({ readyTimeoutMs: 15_000 });
  const monitorNc = await connect({
    servers: server.url,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
    name: "fleet-monitor",
  });
  await bootstrapKanade(monitorNc);
  const monitor = new Monitor(monitorNc);
  const proxies: CountingProxy[] = [];
  const agents: SimAgent[] = [];
  let allMet = true;
  try {
    // ── start-up ──
    const tStart = Date.now();
    for (let i = 0; i < n; i += args.batch) {
      const batch: Promise<void>[] = [];
      for (let j = i; j < Math.min(n, i + args.batch); j++) {
        const proxy = await CountingProxy.start(server.port);
        proxies.push(proxy);
        const agent = new SimAgent({
          pcId: `sim-${String(j).padStart(5, "0")}`,
          url: proxy.url,
          heartbeatMs: args.heartbeatMs,
          clock: systemClock,
          agentVersion: AGENT_VERSION,
        });
        agents.push(agent);
        batch.push(agent.start());
      }
      await Promise.all(batch);
    }
    const connectedMs = Date.now() - tStart;
    await waitFor(() => agents.every((a) => a.replayReadyAt.length > 0), {
      timeoutMs: args.waitMs,
      intervalMs: 50,
      what: "every replay durable",
    });
    const readyMs = Date.now() - tStart;
    console.log("\nstart-up");
    line("all connected", formatMs(connectedMs));
    line("all replay durables ready", formatMs(readyMs));
    const afterStart = processUsage(server.pid);
    line(
      "nats-server after start-up",
      `${afterStart.rssMiB.toFixed(0)} MiB RSS, ${afterStart.cpuSecs.toFixed(1)} s CPU`,
    );

    // ── steady state ──
    // The first beats are spread over at most 5 s after start (firstTickSpreadMs); measure one
    // whole interval after that (at most a minute).
    await sleep(Math.max(0, tStart + readyMs + FIRST_TICK_SPREAD_CAP_MS - Date.now()));
    const window = Math.min(60_000, args.heartbeatMs);
    const tw = Date.now();
    await sleep(window);
    console.log("\nsteady state");
    line(
      `heartbeats/s over ${formatMs(window)}`,
      `${monitor.heartbeatsPerSec(tw, tw + window).toFixed(1)} (expected ${((n * 1000) / args.heartbeatMs).toFixed(1)})`,
    );
    for (let k = 1; k <= args.fanouts; k++) {
      const lat = await monitor.fanOut(n, args.waitMs);
      allMet = fanOutLine(`fan-out ${k} (commands.all → ${n} results)`, lat, n) && allMet;
    }

    // ── broker SIGKILL + restart ──
    console.log("\nbroker SIGKILL, restart on the same store");
    const tKill = Date.now();
    await server.stop();
    await sleep(args.downMs);
    await server.restart();
    const tUp = Date.now();
    const latBack = await monitor.fanOut(n, args.waitMs, tUp);
    await waitFor(() => agents.every((a) => a.reconnectedAt.some((t) => t > tKill)), {
      timeoutMs: args.waitMs,
      intervalMs: 50,
      what: "every agent to reconnect",
    }).catch(() => {});
    const backTimes = agents.map((a) => {
      const t = a.reconnectedAt.find((x) => x > tKill);
      return t === undefined ? Number.POSITIVE_INFINITY : t - tUp;
    });
    const reconnected = backTimes.filter(Number.isFinite).length;
    const lastBack = Math.max(...backTimes);
    line(
      "all N reconnected (from restart)",
      reconnected === n
        ? formatMs(lastBack)
        : `${reconnected}/${n} within ${formatMs(args.waitMs)}`,
      {
        ok: reconnected === n && lastBack <= TARGET_BACK_MS,
        text: `≤ ${formatMs(TARGET_BACK_MS)}`,
      },
    );
    const lastResult = latBack.length === 0 ? Number.NaN : Math.max(...latBack);
    line(
      "all N answered a broadcast sent at restart",
      latBack.length === n
        ? `${formatMs(lastResult)} (p50 ${formatMs(percentile(latBack, 50))})`
        : `${latBack.length}/${n} within ${formatMs(args.waitMs)}`,
      {
        ok: latBack.length === n && lastResult <= TARGET_BACK_MS,
        text: `≤ ${formatMs(TARGET_BACK_MS)}`,
      },
    );
    allMet = allMet && reconnected === n && lastBack <= TARGET_BACK_MS && latBack.length === n;
    const tEnd = Date.now();
    const perAgent = proxies.map((p) =>
      maxInWindow(
        p.acceptedAt.filter((t) => t >= tKill && t <= tEnd),
        10_000,
      ),
    );
    const attemptsMax = Math.max(...perAgent);
    line(
      "connection attempts per agent per 10 s",
      `max ${attemptsMax}, p99 ${percentile(perAgent, 99)}, p50 ${percentile(perAgent, 50)}`,
      { ok: attemptsMax <= TARGET_ATTEMPTS_PER_10S, text: `≤ ${TARGET_ATTEMPTS_PER_10S}` },
    );
    allMet = allMet && attemptsMax <= TARGET_ATTEMPTS_PER_10S;
    const totalAttempts = proxies.reduce(
      (sum, p) => sum + p.acceptedAt.filter((t) => t >= tKill && t <= tEnd).length,
      0,
    );
    line("connection attempts in all (outage + return)", String(totalAttempts));

    // ── after recovery ──
    console.log("\nafter recovery");
    const latAfter = await monitor.fanOut(n, args.waitMs);
    allMet = fanOutLine(`fan-out (commands.all → ${n} results)`, latAfter, n) && allMet;
    await sleep(Math.max(0, tUp + 10_000 - Date.now()));
    line(
      "heartbeats/s in the first 10 s after restart",
      `${monitor.heartbeatsPerSec(tUp, tUp + 10_000).toFixed(1)} (peak ${monitor.maxHeartbeatsInOneSecond(tUp, tUp + 10_000)} in 1 s)`,
    );
    const end = processUsage(server.pid);
    line(
      "nats-server at the end",
      `${end.rssMiB.toFixed(0)} MiB RSS, ${end.cpuSecs.toFixed(1)} s CPU`,
    );
    const failures = agents.reduce((s, a) => s + a.resultFailures, 0);
    const dups = agents.reduce((s, a) => s + a.duplicatesDropped, 0);
    line("result publishes given up / duplicates dropped", `${failures} / ${dups}`);
    const self = processUsage(process.pid);
    line(
      "simulator process",
      `${self.rssMiB.toFixed(0)} MiB RSS, ${self.cpuSecs.toFixed(1)} s CPU`,
    );
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
    await Promise.all(proxies.map((p) => p.close()));
    await monitorNc.close().catch(() => {});
    await server.stop();
    removeTempDir(server.workDir);
  }
  console.log(`\n${allMet ? "every target met" : "some targets MISSED"}`);
  return 0;
}

// A hard stop: the simulator never runs unbounded.
const HARD_LIMIT_MS = 20 * 60_000;
setTimeout(() => {
  console.error(`fleet: still running after ${formatMs(HARD_LIMIT_MS)}, giving up`);
  process.exit(1);
}, HARD_LIMIT_MS).unref();

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
