import type { Clock } from "../time/clock.js";
import { type IoBytes, parseProcIo, readText } from "./procfs.js";

/** What the agent reports about its own process in a heartbeat (wire §4.7). */
export interface AgentSelfPerf {
  /** Percent of one core since the previous sample; absent on the first. */
  cpuPct?: number;
  rssBytes: number;
  /** Cumulative since the process started; absent where the platform cannot say. */
  diskReadBytes?: number;
  diskWrittenBytes?: number;
}

export interface AgentSelfProbes {
  /** User + system CPU time of this process, microseconds. */
  cpuMicros(): number;
  rssBytes(): number;
  /** Storage bytes read/written by this process, or null where unknown. */
  io(): IoBytes | null;
}

/** The real probes: `process.cpuUsage()`, `process.memoryUsage.rss()`, `/proc/self/io` on Linux. */
export function processProbes(platform: NodeJS.Platform = process.platform): AgentSelfProbes {
  return {
    cpuMicros: () => {
      const u = process.cpuUsage();
      return u.user + u.system;
    },
    rssBytes: () => process.memoryUsage.rss(),
    io: () => {
      if (platform !== "linux") return null;
      const text = readText("/proc/self/io");
      return text === null ? null : parseProcIo(text);
    },
  };
}

/**
 * The agent's own CPU, memory and disk figures (behavior.md 12.3). CPU is a rate: each sample
 * reports the CPU time used since the previous one over the wall (monotonic) time between them.
 */
export class AgentSelfSampler {
  private last: { cpuMicros: number; atMs: number } | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly probes: AgentSelfProbes = processProbes(),
  ) {}

  sample(): AgentSelfPerf {
    const cpuMicros = this.probes.cpuMicros();
    const atMs = this.clock.monotonic();
    const out: AgentSelfPerf = { rssBytes: this.probes.rssBytes() };
    const prev = this.last;
    if (prev !== null && atMs > prev.atMs && cpuMicros >= prev.cpuMicros) {
      out.cpuPct = ((cpuMicros - prev.cpuMicros) / 1000 / (atMs - prev.atMs)) * 100;
    }
    this.last = { cpuMicros, atMs };
    const io = this.probes.io();
    if (io !== null) {
      out.diskReadBytes = io.readBytes;
      out.diskWrittenBytes = io.writtenBytes;
    }
    return out;
  }
}
