import { availableParallelism, cpus, freemem, totalmem } from "node:os";
import {
  listWholeDisks,
  parseCpuTimes,
  parseDiskStats,
  parseMemInfo,
  parseNetDev,
  readText,
} from "./procfs.js";

/**
 * One reading of the host's counters. Cumulative counters (CPU time, disk and network bytes) turn
 * into rates only against an earlier reading; a member is absent where the platform cannot say.
 */
export interface HostCounters {
  /** CPU time over all logical cores, any unit (only ratios are used). */
  cpu?: { busy: number; total: number };
  cpuCount: number;
  memTotalBytes?: number;
  memAvailableBytes?: number;
  swapTotalBytes?: number;
  swapUsedBytes?: number;
  disk?: { readBytes: number; writtenBytes: number };
  net?: { rxBytes: number; txBytes: number };
}

export type HostCounterReader = () => Promise<HostCounters>;

/** Linux: a handful of small /proc and /sys reads, no child processes. */
export function linuxHostCounters(): HostCounterReader {
  return async () => {
    const c: HostCounters = { cpuCount: 0 };
    const stat = readText("/proc/stat");
    const times = stat === null ? null : parseCpuTimes(stat);
    if (times !== null) {
      c.cpu = { busy: times.busy, total: times.total };
      c.cpuCount = times.cpuCount;
    }
    if (c.cpuCount === 0) c.cpuCount = availableParallelism();
    const meminfo = readText("/proc/meminfo");
    const mem = meminfo === null ? null : parseMemInfo(meminfo);
    if (mem !== null) {
      c.memTotalBytes = mem.totalBytes;
      c.memAvailableBytes = mem.availableBytes;
      c.swapTotalBytes = mem.swapTotalBytes;
      c.swapUsedBytes = mem.swapTotalBytes - mem.swapFreeBytes;
    }
    const disks = listWholeDisks();
    const diskstats = disks.size === 0 ? null : readText("/proc/diskstats");
    if (diskstats !== null) c.disk = parseDiskStats(diskstats, disks);
    const netdev = readText("/proc/net/dev");
    const net = netdev === null ? null : parseNetDev(netdev);
    if (net !== null) c.net = net;
    return c;
  };
}

/** The parts of systeminformation the portable reader uses (loaded lazily: it is large). */
interface SiSubset {
  mem(): Promise<{ total: number; available: number; swaptotal: number; swapused: number }>;
  fsStats(): Promise<{ rx: number; wx: number } | null>;
  networkStats(ifaces: string): Promise<{ rx_bytes: number; tx_bytes: number }[]>;
}

/**
 * Windows, macOS and the rest: CPU times from `os.cpus()`, memory, disk and network from
 * systeminformation. These spawn helper processes on some platforms, which is why Linux does not
 * use them; a host perf sample is at most once a second and normally once a minute.
 */
export function portableHostCounters(platform: NodeJS.Platform): HostCounterReader {
  let si: Promise<SiSubset> | null = null;
  const load = () => {
    si ??= import("systeminformation").then((m) => (m.default ?? m) as unknown as SiSubset);
    return si;
  };
  return async () => {
    const cores = cpus();
    const c: HostCounters = { cpuCount: cores.length || availableParallelism() };
    if (cores.length > 0) {
      let busy = 0;
      let total = 0;
      for (const { times } of cores) {
        const all = times.user + times.nice + times.sys + times.idle + times.irq;
        total += all;
        busy += all - times.idle;
      }
      c.cpu = { busy, total };
    }
    const lib = await load();
    const [mem, fs, nets] = await Promise.all([
      lib.mem().catch(() => null),
      // systeminformation has no byte counters for Windows disks: leave them absent there.
      platform === "win32" ? Promise.resolve(null) : lib.fsStats().catch(() => null),
      lib.networkStats("*").catch(() => null),
    ]);
    if (mem !== null) {
      c.memTotalBytes = mem.total;
      c.memAvailableBytes = mem.available;
      c.swapTotalBytes = mem.swaptotal;
      c.swapUsedBytes = mem.swapused;
    } else {
      c.memTotalBytes = totalmem();
      c.memAvailableBytes = freemem();
    }
    if (fs !== null && Number.isFinite(fs.rx) && Number.isFinite(fs.wx)) {
      c.disk = { readBytes: fs.rx, writtenBytes: fs.wx };
    }
    if (nets !== null && nets.length > 0) {
      c.net = {
        rxBytes: nets.reduce((s, n) => s + (n.rx_bytes || 0), 0),
        txBytes: nets.reduce((s, n) => s + (n.tx_bytes || 0), 0),
      };
    }
    return c;
  };
}

/** The reader for this platform. */
export function hostCounterReader(platform: NodeJS.Platform): HostCounterReader {
  return platform === "linux" ? linuxHostCounters() : portableHostCounters(platform);
}
