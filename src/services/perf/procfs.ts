// Linux /proc and /sys readers for the perf samplers. Reading these files directly costs a
// fraction of a millisecond; systeminformation spawns `cat`/`ps` children for the same numbers
// (measured: ~40–100 ms of CPU per call), which would break the agent's idle budget.
// Parsers are pure and exported for tests; readers return null when a file is unreadable.
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync } from "node:fs";
import { arch, endianness } from "node:os";

/** /proc/stat's aggregate `cpu` line, in clock ticks. */
export interface CpuTimes {
  busy: number;
  total: number;
  /** Number of `cpuN` lines: logical cores the kernel knows about. */
  cpuCount: number;
}

export interface MemInfo {
  totalBytes: number;
  availableBytes: number;
  swapTotalBytes: number;
  swapFreeBytes: number;
}

export interface IoBytes {
  readBytes: number;
  writtenBytes: number;
}

export interface NetBytes {
  rxBytes: number;
  txBytes: number;
}

/** The parts of `/proc/<pid>/stat` the process sampler needs. */
export interface PidStat {
  pid: number;
  comm: string;
  /** user + system time, clock ticks. */
  cpuTicks: number;
  /** Start time after boot, clock ticks: tells a reused pid apart. */
  startTicks: number;
  rssPages: number;
}

/** Reads a small text file; null when it is missing or unreadable (a process that just ended). */
export function readText(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

export function parseCpuTimes(stat: string): CpuTimes | null {
  let aggregate: number[] | null = null;
  let cpuCount = 0;
  for (const line of stat.split("\n")) {
    if (!line.startsWith("cpu")) continue;
    if (line.startsWith("cpu ")) aggregate = line.slice(4).trim().split(/\s+/).map(Number);
    else if (/^cpu\d/.test(line)) cpuCount++;
  }
  if (aggregate === null || aggregate.length < 4 || aggregate.some(Number.isNaN)) return null;
  // user nice system idle iowait irq softirq steal; guest time is already inside user/nice.
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] =
    aggregate;
  const total = user + nice + system + idle + iowait + irq + softirq + steal;
  return { busy: total - idle - iowait, total, cpuCount };
}

export function parseMemInfo(meminfo: string): MemInfo | null {
  const kib = new Map<string, number>();
  for (const line of meminfo.split("\n")) {
    const m = /^(\w+):\s+(\d+)/.exec(line);
    if (m) kib.set(m[1] as string, Number(m[2]));
  }
  const total = kib.get("MemTotal");
  if (total === undefined) return null;
  // Kernels before 3.14 have no MemAvailable; free + page cache is the usual estimate there.
  const available =
    kib.get("MemAvailable") ??
    (kib.get("MemFree") ?? 0) + (kib.get("Buffers") ?? 0) + (kib.get("Cached") ?? 0);
  return {
    totalBytes: total * 1024,
    availableBytes: available * 1024,
    swapTotalBytes: (kib.get("SwapTotal") ?? 0) * 1024,
    swapFreeBytes: (kib.get("SwapFree") ?? 0) * 1024,
  };
}

/**
 * Bytes read and written, summed over `disks` (whole devices only: counting `sda` and `sda1`,
 * or `dm-0` on top of `sda`, would count the same bytes twice). Sectors here are always 512 B.
 */
export function parseDiskStats(diskstats: string, disks: ReadonlySet<string>): IoBytes {
  let read = 0;
  let written = 0;
  for (const line of diskstats.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || !disks.has(f[2] as string)) continue;
    read += Number(f[5]) * 512;
    written += Number(f[9]) * 512;
  }
  return { readBytes: read, writtenBytes: written };
}

/** Bytes received and sent, summed over every interface including loopback. */
export function parseNetDev(netdev: string): NetBytes | null {
  let rx = 0;
  let tx = 0;
  let seen = false;
  for (const line of netdev.split("\n")) {
    const colon = line.indexOf(":");
    if (colon < 0 || line.includes("|")) continue;
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/);
    if (f.length < 9) continue;
    rx += Number(f[0]);
    tx += Number(f[8]);
    seen = true;
  }
  return seen ? { rxBytes: rx, txBytes: tx } : null;
}

/** `read_bytes` / `write_bytes` of `/proc/<pid>/io` (storage-layer bytes, not page-cache hits). */
export function parseProcIo(io: string): IoBytes | null {
  const read = /^read_bytes:\s*(\d+)/m.exec(io);
  const written = /^write_bytes:\s*(\d+)/m.exec(io);
  if (!read || !written) return null;
  return { readBytes: Number(read[1]), writtenBytes: Number(written[1]) };
}

/** `/proc/<pid>/stat`; the command name may hold spaces and parentheses, so split at the last `)`. */
export function parsePidStat(stat: string): PidStat | null {
  const open = stat.indexOf("(");
  const close = stat.lastIndexOf(")");
  if (open < 0 || close < open) return null;
  const pid = Number(stat.slice(0, open).trim());
  // Fields after the name, numbered from 3 (state) as in proc(5).
  const f = stat.slice(close + 2).split(" ");
  const field = (n: number) => Number(f[n - 3]);
  const utime = field(14);
  const stime = field(15);
  const start = field(22);
  const rss = field(24);
  if (![pid, utime, stime, start, rss].every(Number.isFinite)) return null;
  return {
    pid,
    comm: stat.slice(open + 1, close),
    cpuTicks: utime + stime,
    startTicks: start,
    rssPages: rss,
  };
}

/** `/proc/<pid>/stat` read and parsed; null once the process is gone. */
export function readPidStat(pid: number, proc = "/proc"): PidStat | null {
  const text = readText(`${proc}/${pid}/stat`);
  return text === null ? null : parsePidStat(text);
}

/** Whole block devices backed by hardware (`/sys/block/<name>/device` exists): no loop, ram, zram, dm, md. */
export function listWholeDisks(sysBlock = "/sys/block"): Set<string> {
  const disks = new Set<string>();
  let names: string[];
  try {
    names = readdirSync(sysBlock);
  } catch {
    return disks;
  }
  for (const name of names) if (existsSync(`${sysBlock}/${name}/device`)) disks.add(name);
  return disks;
}

/** Numeric entries of /proc: every pid visible to us. */
export function listPids(proc = "/proc"): number[] {
  const pids: number[] = [];
  for (const name of readdirSync(proc)) {
    const c = name.charCodeAt(0);
    if (c >= 48 && c <= 57) pids.push(Number(name));
  }
  return pids;
}

export interface KernelUnits {
  pageSize: number;
  /** USER_HZ: clock ticks per second of the /proc CPU times. */
  clockTicks: number;
}

const AT_PAGESZ = 6;
const AT_CLKTCK = 17;
const FALLBACK_UNITS: KernelUnits = { pageSize: 4096, clockTicks: 100 };

/**
 * Page size and clock-tick rate from the ELF auxiliary vector the kernel handed this process
 * (Node exposes neither); the usual 4096 / 100 when it cannot be read.
 */
export function readKernelUnits(path = "/proc/self/auxv"): KernelUnits {
  const bytes = readBinary(path, 4096);
  if (bytes === null) return FALLBACK_UNITS;
  return parseAuxv(bytes, is64Bit() ? 8 : 4, endianness()) ?? FALLBACK_UNITS;
}

export function parseAuxv(bytes: Buffer, wordSize: 4 | 8, order: "LE" | "BE"): KernelUnits | null {
  const word = (at: number): number =>
    wordSize === 8
      ? Number(order === "LE" ? bytes.readBigUInt64LE(at) : bytes.readBigUInt64BE(at))
      : order === "LE"
        ? bytes.readUInt32LE(at)
        : bytes.readUInt32BE(at);
  let pageSize = 0;
  let clockTicks = 0;
  for (let at = 0; at + 2 * wordSize <= bytes.length; at += 2 * wordSize) {
    const type = word(at);
    if (type === 0) break;
    if (type === AT_PAGESZ) pageSize = word(at + wordSize);
    else if (type === AT_CLKTCK) clockTicks = word(at + wordSize);
  }
  return pageSize > 0 && clockTicks > 0 ? { pageSize, clockTicks } : null;
}

function is64Bit(): boolean {
  return ["x64", "arm64", "ppc64", "s390x", "riscv64", "loong64", "mips64el"].includes(arch());
}

function readBinary(path: string, max: number): Buffer | null {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const buf = Buffer.alloc(max);
    const n = readSync(fd, buf, 0, max, 0);
    return buf.subarray(0, n);
  } catch {
    return null;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
