// Cost of one full inventory collection on this machine: `npx tsx bench/inventory.bench.ts`.
// Wall time and CPU time (this process plus the child processes systeminformation spawns) per
// collection, against the targets of < 1 s wall and < 0.5 s CPU. One warm-up collection first
// (systeminformation caches a few static facts), then RUNS measured ones, sequential calls (the
// default) and all calls at once.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { InventoryCollector } from "../src/services/inventory/collect.js";
import {
  COLLECTOR_NAMES,
  systeminformationCollectors,
} from "../src/services/inventory/collectors.js";
import { silentLogger } from "../src/services/logging/logger.js";
import { systemClock } from "../src/services/time/clock.js";

const RUNS = 5;
const TARGET_WALL_MS = 1_000;
const TARGET_CPU_MS = 500;

/** Ticks per second for /proc times; 100 almost everywhere. */
function clockTicks(): number {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
}

/** CPU ms of reaped children (cutime + cstime), or null where /proc is missing. */
function childrenCpuMs(ticks: number): number | null {
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 16 and 17 of stat(5), counted from 3 after the command name.
    return ((Number(fields[13]) + Number(fields[14])) * 1000) / ticks;
  } catch {
    return null;
  }
}

interface Sample {
  wallMs: number;
  selfCpuMs: number;
  childCpuMs: number | null;
}

async function measure(collector: InventoryCollector, ticks: number): Promise<Sample> {
  const child0 = childrenCpuMs(ticks);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const inv = await collector.collect();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const child1 = childrenCpuMs(ticks);
  if (inv.collectionErrors !== undefined) {
    console.log(`  (collection errors: ${JSON.stringify(inv.collectionErrors)})`);
  }
  return {
    wallMs,
    selfCpuMs: (cpu.user + cpu.system) / 1000,
    childCpuMs: child0 === null || child1 === null ? null : child1 - child0,
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};
const fmt = (ms: number) => `${ms.toFixed(0).padStart(5)} ms`;

async function run(label: string, concurrency: number, ticks: number): Promise<boolean> {
  const collector = new InventoryCollector({
    pcId: "BENCH",
    agentVersion: "0.0.0-bench",
    platform: process.platform,
    clock: systemClock,
    log: silentLogger(),
    concurrency,
  });
  // The first collection of a process asks everything; later ones reuse the static hardware
  // facts (kept a day) and the network scan, as the agent's hourly checks do.
  const first = await measure(collector, ticks);
  console.log(
    `${label}, first collection: wall ${fmt(first.wallMs)}, cpu ${fmt(first.selfCpuMs + (first.childCpuMs ?? 0))}`,
  );
  const samples: Sample[] = [];
  for (let i = 0; i < RUNS; i++) samples.push(await measure(collector, ticks));
  const wall = median(samples.map((s) => s.wallMs));
  const self = median(samples.map((s) => s.selfCpuMs));
  const children = samples.every((s) => s.childCpuMs !== null)
    ? median(samples.map((s) => s.childCpuMs ?? 0))
    : null;
  const cpu = self + (children ?? 0);
  console.log(`${label}, later collections (median of ${RUNS})`);
  console.log(
    `  wall            ${fmt(wall)}   target < ${TARGET_WALL_MS} ms  ×${(wall / TARGET_WALL_MS).toFixed(2)}`,
  );
  console.log(`  cpu agent       ${fmt(self)}`);
  console.log(`  cpu children    ${children === null ? "   n/a (no /proc)" : fmt(children)}`);
  console.log(
    `  cpu total       ${fmt(cpu)}   target < ${TARGET_CPU_MS} ms  ×${(cpu / TARGET_CPU_MS).toFixed(2)}`,
  );
  return wall < TARGET_WALL_MS && cpu < TARGET_CPU_MS;
}

/** Where the time goes: each call alone, warm. */
async function breakdown(ticks: number): Promise<void> {
  const calls = systeminformationCollectors(process.platform);
  console.log("per call (warm, one run each): wall / agent cpu / children cpu");
  for (const name of COLLECTOR_NAMES) {
    const child0 = childrenCpuMs(ticks);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await calls[name]();
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const child1 = childrenCpuMs(ticks);
    const children = child0 === null || child1 === null ? "n/a" : fmt(child1 - child0);
    console.log(
      `  ${name.padEnd(18)} ${fmt(wall)} / ${fmt((cpu.user + cpu.system) / 1000)} / ${children}`,
    );
  }
}

const ticks = clockTicks();
console.log(`inventory collection on ${process.platform}/${process.arch}, node ${process.version}`);
const sequential = await run("sequential calls (default)", 1, ticks);
const parallel = await run("all calls at once", 11, ticks);
await breakdown(ticks);
console.log(sequential && parallel ? "within targets" : "ABOVE TARGET (see the lines above)");
