// Command-path benchmarks (issue 3): round trip and burst against floors measured in the same run.
//   npx tsx bench/commands.bench.ts [--round-trips 200] [--warm-up 200] [--burst 1000] [--burst-rounds 3]
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { childrenMatching } from "../faults/processes.js";
import { HELPER_PROCESS_TITLE } from "../src/services/exec/spawnHelper.js";
import { bootstrapKanade } from "../src/services/nats/resources.js";
import { readPidStat } from "../src/services/perf/procfs.js";
import { encodeCommand } from "../src/services/wire/index.js";
import type { Command } from "../src/services/wire/types.js";
import { AgentProcess } from "../test/helpers/agentProcess.js";
import { NatsServer } from "../test/helpers/natsServer.js";
import { turnInventoryOff } from "./inventoryOff.js";

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const ROUND_TRIPS = arg("round-trips", 200);
/**
 * Round trips run before the measured ones. V8 goes on optimising the agent's code over its first
 * hundreds of commands (thousands before the agent switched V8 to optimise sooner on its first
 * command): `--warm-up 3000` measures the steady state instead of the 200th command on.
 */
const WARM_UP = arg("warm-up", ROUND_TRIPS);
const BURST = arg("burst", 1000);
/** Bare and agent bursts alternate this many times: the machine's speed drifts within a run. */
const BURST_ROUNDS = arg("burst-rounds", 3);
const PC = "BENCH";

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};
const ms = (x: number) => `${x.toFixed(2)} ms`;

function command(script: string): Command {
  return {
    id: "bench",
    version: "1",
    requestId: randomUUID(),
    execId: null,
    shell: "sh",
    script,
    timeoutSecs: 30,
    jitterSecs: null,
    runAs: "system",
    staleness: { mode: "cached" },
  };
}

function bareSpawn(): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn("/bin/sh", ["-c", "true"], { stdio: ["ignore", "pipe", "pipe"] });
    c.once("error", reject);
    c.once("close", () => resolve());
  });
}

/** One NATS request/reply plus one bare spawn of the same script: the floor of a round trip. */
async function floorRoundTrip(nc: NatsConnection): Promise<number> {
  const t = performance.now();
  await nc.request("bench.echo", "x", { timeout: 5_000 });
  await bareSpawn();
  return performance.now() - t;
}

/** Publish → ExecResult received for one `sh -c true`. */
async function agentRoundTrip(nc: NatsConnection): Promise<number> {
  const cmd = command("true");
  const sub = nc.subscribe(`results.${cmd.requestId}`, { max: 1 });
  await nc.flush();
  const t = performance.now();
  nc.publish(`commands.pc.${PC}`, JSON.stringify(encodeCommand(cmd)));
  for await (const _ of sub) break;
  return performance.now() - t;
}

/**
 * Floor and agent samples taken in turns (which one goes first alternates), so that the VM's
 * speed, which drifts within minutes, weighs on both alike.
 */
async function roundTrips(
  nc: NatsConnection,
  count = ROUND_TRIPS,
): Promise<{ floor: number[]; agent: number[] }> {
  const echo = nc.subscribe("bench.echo", { callback: (_e, m) => void m.respond(m.data) });
  const floor: number[] = [];
  const agent: number[] = [];
  for (let i = 0; i < count; i++) {
    if (i % 2 === 0) {
      floor.push(await floorRoundTrip(nc));
      agent.push(await agentRoundTrip(nc));
    } else {
      agent.push(await agentRoundTrip(nc));
      floor.push(await floorRoundTrip(nc));
    }
  }
  echo.unsubscribe();
  return { floor, agent };
}

async function bareBurst(): Promise<number> {
  const conc = cpus().length;
  let next = 0;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: conc }, async () => {
      while (next++ < BURST) await bareSpawn();
    }),
  );
  return BURST / ((performance.now() - t) / 1000);
}

async function agentBurst(nc: NatsConnection): Promise<number> {
  let got = 0;
  let failed = 0;
  let sub: ReturnType<NatsConnection["subscribe"]> | undefined;
  const done = new Promise<void>((resolve) => {
    sub = nc.subscribe("results.>", {
      callback: (_err, m) => {
        // A command that failed fast would flatter the rate: every one must have run.
        if ((m.json() as { exit_code: number }).exit_code !== 0) failed++;
        if (++got === BURST) resolve();
      },
    });
  });
  await nc.flush();
  const t = performance.now();
  for (let i = 0; i < BURST; i++)
    nc.publish(`commands.pc.${PC}`, JSON.stringify(encodeCommand(command("true"))));
  await done;
  const rate = BURST / ((performance.now() - t) / 1000);
  sub?.unsubscribe();
  if (failed > 0) throw new Error(`${failed} of ${BURST} burst commands did not exit 0`);
  return rate;
}

const peakRss = (pid: number) => {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : Number.NaN;
};

function helperMemory(pid: number): { rss: number; privateBytes: number } {
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  const kb = (field: string) =>
    Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(rollup)?.[1] ?? 0) * 1024;
  return { rss: peakRss(pid), privateBytes: kb("Private_Clean") + kb("Private_Dirty") };
}

/** CPU time (user + system) of a process so far, in ms (ticks of 10 ms); 0 once it exited. */
function cpuMs(pid: number): number {
  return (readPidStat(pid)?.cpuTicks ?? 0) * 10;
}

/** CPU of the agent, of its spawn helpers (their own, not their children's) and of the broker. */
function commandPathCpuMs(pid: number): { agent: number; helpers: number; broker: number } {
  let helpers = 0;
  for (const helper of childrenMatching(pid, HELPER_PROCESS_TITLE)) helpers += cpuMs(helper);
  return { agent: cpuMs(pid), helpers, broker: cpuMs(server.pid) };
}

type PathCpu = ReturnType<typeof commandPathCpuMs>;
const cpuPerCommand = (before: PathCpu, after: PathCpu, commands: number) =>
  `CPU per command: agent ${((after.agent - before.agent) / commands).toFixed(2)} ms, spawn helpers ${((after.helpers - before.helpers) / commands).toFixed(2)} ms, broker ${((after.broker - before.broker) / commands).toFixed(2)} ms`;

const server = await NatsServer.start();
const nc = await connect({ servers: server.url });
await bootstrapKanade(nc, { resultOutput: true });
// The command path alone: the first inventory collection would land in a random window.
await turnInventoryOff(nc);
const agent = await AgentProcess.start({ natsUrl: server.url, id: PC, log: { level: "warn" } });
await new Promise((r) => setTimeout(r, 1500)); // connected, replay consumer up
try {
  await roundTrips(nc, WARM_UP); // warm-up (JIT, page cache) — not measured
  const rtCpuBefore = commandPathCpuMs(agent.pid!);
  const { floor, agent: rt } = await roundTrips(nc);
  const rtCpuAfter = commandPathCpuMs(agent.pid!);
  console.log(
    `round trip (n=${ROUND_TRIPS}): floor (NATS request + bare spawn) p50 ${ms(pct(floor, 50))} p99 ${ms(pct(floor, 99))}`,
  );
  console.log(
    `round trip (n=${ROUND_TRIPS}): agent publish → ExecResult     p50 ${ms(pct(rt, 50))} p99 ${ms(pct(rt, 99))}`,
  );
  console.log(
    `round trip: agent p50 − floor p50 = ${ms(pct(rt, 50) - pct(floor, 50))} (target ≤ 5 ms); ratio ${(pct(rt, 50) / pct(floor, 50)).toFixed(2)}; ${cpuPerCommand(rtCpuBefore, rtCpuAfter, ROUND_TRIPS)}`,
  );
  const ratios: number[] = [];
  for (let round = 1; round <= BURST_ROUNDS; round++) {
    const bare = await bareBurst();
    // Where the CPU of a command goes; the helpers' share of the agent's, taken in the same round,
    // does not move with the VM's speed as the rates do.
    const cpuBefore = commandPathCpuMs(agent.pid!);
    const burst = await agentBurst(nc);
    const cpuAfter = commandPathCpuMs(agent.pid!);
    ratios.push(burst / bare);
    console.log(
      `burst ${round}/${BURST_ROUNDS} (n=${BURST}, ${cpus().length} at once): bare spawns ${bare.toFixed(0)}/s, agent ${burst.toFixed(0)} commands/s, ratio ${(burst / bare).toFixed(2)}; ${cpuPerCommand(cpuBefore, cpuAfter, BURST)}`,
    );
  }
  console.log(
    `burst: median ratio ${pct(ratios, 50).toFixed(2)} of ${BURST_ROUNDS} alternating rounds (target ≥ 0.70)`,
  );
  console.log(`agent peak RSS ${(peakRss(agent.pid!) / 2 ** 20).toFixed(1)} MiB (target < 150 MB)`);
  for (const helper of childrenMatching(agent.pid!, HELPER_PROCESS_TITLE)) {
    const { rss, privateBytes } = helperMemory(helper);
    console.log(
      `spawn helper (pid ${helper}): peak RSS ${(rss / 2 ** 20).toFixed(1)} MiB, of which private (not shared with the agent's Node binary) ${(privateBytes / 2 ** 20).toFixed(1)} MiB now`,
    );
  }
} finally {
  await agent.stop().catch(() => {});
  await nc.close();
  await server.stop();
}
