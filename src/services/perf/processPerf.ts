import type { Clock } from "../time/clock.js";
import type { ProcessPerf, ProcessSnapshot } from "../wire/types.js";
import type { ProcessReading, ProcessTable } from "./processTable.js";
import type { IoBytes } from "./procfs.js";

/** Bound on remembered processes between two samples; far above any real process count. */
const MAX_TRACKED = 100_000;

interface Seen {
  start: number;
  cpuMs: number | undefined;
}

interface Baseline {
  atMs: number;
  intervalMs: number;
  cpu: Map<number, Seen>;
  /** Disk counters of the processes reported last time (at most top-n of them). */
  io: Map<number, { start: number; io: IoBytes }>;
}

/**
 * Process perf snapshots (wire §4.9, behavior.md 12.5): the top-n processes by CPU since the
 * previous sample. The first sample (after start, after `reset()`, or after an interval change)
 * only records the baseline and returns null. Disk rates need the process to have been reported
 * the time before as well (only the reported few have their `io` read), so they are absent the
 * first time a pid makes the list.
 */
export class ProcessPerfSampler {
  private baseline: Baseline | null = null;

  constructor(
    private readonly pcId: string,
    private readonly clock: Clock,
    private readonly table: ProcessTable,
  ) {}

  /** Forget the baseline: the next sample starts over (process perf turned inactive). */
  reset(): void {
    this.baseline = null;
  }

  async sample(topN: number, intervalMs: number): Promise<ProcessPerf | null> {
    const readings = (await this.table.read()).slice(0, MAX_TRACKED);
    const atMs = this.clock.monotonic();
    const prev = this.baseline?.intervalMs === intervalMs ? this.baseline : null;
    const cpu = new Map<number, Seen>();
    for (const r of readings) cpu.set(r.pid, { start: r.start, cpuMs: r.cpuMs });
    const next: Baseline = { atMs, intervalMs, cpu, io: new Map() };
    this.baseline = next;
    if (prev === null || atMs <= prev.atMs) return null;

    const elapsedMs = atMs - prev.atMs;
    const ranked = readings
      // Rounded before sorting, so that the order holds for the numbers actually sent.
      .map((r) => ({ r, cpuPct: round2(cpuPctOf(r, prev.cpu.get(r.pid), elapsedMs)) }))
      .sort((a, b) => b.cpuPct - a.cpuPct || a.r.pid - b.r.pid)
      .slice(0, Math.max(1, topN));

    const processes = ranked.map(({ r, cpuPct }): ProcessSnapshot => {
      const details = this.table.details(r);
      const snap: ProcessSnapshot = {
        pid: r.pid,
        name: details.name,
        cpuPct,
        rssBytes: r.rssBytes,
      };
      if (details.io !== undefined) {
        next.io.set(r.pid, { start: r.start, io: details.io });
        const before = prev.io.get(r.pid);
        if (before !== undefined && before.start === r.start) {
          const read = details.io.readBytes - before.io.readBytes;
          const written = details.io.writtenBytes - before.io.writtenBytes;
          if (read >= 0 && written >= 0) {
            snap.diskReadBytesPerSec = round2((read * 1000) / elapsedMs);
            snap.diskWrittenBytesPerSec = round2((written * 1000) / elapsedMs);
          }
        }
      }
      return snap;
    });
    return { pcId: this.pcId, at: this.clock.now(), processes };
  }
}

/**
 * Percent of one core between the two readings. A process missing from the previous list (or
 * whose pid was reused) started since then, so all of its CPU time falls in the window.
 */
function cpuPctOf(r: ProcessReading, before: Seen | undefined, elapsedMs: number): number {
  if (r.cpuMs === undefined) return Math.max(0, r.cpuPct ?? 0);
  const base = before !== undefined && before.start === r.start ? (before.cpuMs ?? 0) : 0;
  return Math.max(0, ((r.cpuMs - base) / elapsedMs) * 100);
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
