import type { Clock } from "../time/clock.js";
import type { HostPerf } from "../wire/types.js";
import type { HostCounterReader, HostCounters } from "./hostCounters.js";

interface Baseline {
  counters: HostCounters;
  atMs: number;
  intervalMs: number;
}

/**
 * Host perf snapshots (wire §4.8, behavior.md 12.4). CPU, disk and network figures are rates
 * between this sample and the previous one; the first sample after start, and the first one
 * after an interval change, only set the baseline and carry no rates.
 */
export class HostPerfSampler {
  private baseline: Baseline | null = null;

  constructor(
    private readonly pcId: string,
    private readonly clock: Clock,
    private readonly read: HostCounterReader,
  ) {}

  async sample(intervalMs: number): Promise<HostPerf> {
    const counters = await this.read();
    const atMs = this.clock.monotonic();
    const prev = this.baseline?.intervalMs === intervalMs ? this.baseline : null;
    this.baseline = { counters, atMs, intervalMs };
    const since = prev === null ? null : { counters: prev.counters, elapsedMs: atMs - prev.atMs };
    return hostPerfOf(this.pcId, this.clock.now(), counters, since);
  }
}

/** The snapshot at `now` against the counters read `elapsedMs` earlier, or a baseline-only one. */
export function hostPerfOf(
  pcId: string,
  now: number,
  c: HostCounters,
  prev: { counters: HostCounters; elapsedMs: number } | null,
): HostPerf {
  const perf: HostPerf = { pcId, at: now, cpuCount: c.cpuCount };
  if (c.memTotalBytes !== undefined && c.memAvailableBytes !== undefined) {
    perf.memTotalBytes = c.memTotalBytes;
    perf.memUsedBytes = Math.max(0, c.memTotalBytes - c.memAvailableBytes);
  }
  if (c.swapTotalBytes !== undefined && c.swapTotalBytes > 0) {
    perf.swapTotalBytes = c.swapTotalBytes;
    perf.swapUsedBytes = Math.max(0, c.swapUsedBytes ?? 0);
  }
  if (prev === null || prev.elapsedMs <= 0) return perf;
  const p = prev.counters;
  const seconds = prev.elapsedMs / 1000;
  if (c.cpu && p.cpu) {
    const total = c.cpu.total - p.cpu.total;
    const busy = c.cpu.busy - p.cpu.busy;
    if (total > 0 && busy >= 0) perf.cpuPct = Math.min(100, (busy / total) * 100);
  }
  // A counter that went backwards (device removed, wrap, reset) gives no rate this time.
  const rate = (now: number, before: number) => (now >= before ? (now - before) / seconds : null);
  if (c.disk && p.disk) {
    const r = rate(c.disk.readBytes, p.disk.readBytes);
    const w = rate(c.disk.writtenBytes, p.disk.writtenBytes);
    if (r !== null && w !== null) {
      perf.diskReadBytesPerSec = r;
      perf.diskWrittenBytesPerSec = w;
    }
  }
  if (c.net && p.net) {
    const rx = rate(c.net.rxBytes, p.net.rxBytes);
    const tx = rate(c.net.txBytes, p.net.txBytes);
    if (rx !== null && tx !== null) {
      perf.netRxBytesPerSec = rx;
      perf.netTxBytesPerSec = tx;
    }
  }
  return perf;
}
