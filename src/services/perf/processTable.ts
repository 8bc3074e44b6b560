import { basename } from "node:path";
import {
  type IoBytes,
  type KernelUnits,
  listPids,
  parseProcIo,
  readKernelUnits,
  readPidStat,
  readText,
} from "./procfs.js";

/** One process as read from the OS; CPU is either cumulative (`cpuMs`) or a ready rate (`cpuPct`). */
export interface ProcessReading {
  pid: number;
  /** Start time of the process: tells a reused pid apart. */
  start: number;
  name: string;
  rssBytes: number;
  /** Cumulative user + system CPU time, ms; the sampler turns it into a rate. */
  cpuMs?: number;
  /** Percent of one core since the reader's previous call, where the platform gives only that. */
  cpuPct?: number;
}

export interface ProcessDetails {
  /** Image name without path. */
  name: string;
  /** Cumulative storage bytes, where readable. */
  io?: IoBytes;
}

/** The OS's process list. `read` is cheap per process; `details` is asked only for the reported few. */
export interface ProcessTable {
  read(): Promise<ProcessReading[]>;
  details(p: ProcessReading): ProcessDetails;
}

/** The kernel's `comm` is cut at 15 bytes; a name that long may be a prefix of the real one. */
const COMM_MAX = 15;

/**
 * Linux: `/proc/<pid>/stat` for every process (one small read each), plus `cmdline` and `io` for
 * the reported ones. `systeminformation.processes()` runs `ps` for the same list, which costs
 * tens of milliseconds of CPU per call.
 */
export function linuxProcessTable(
  units: KernelUnits = readKernelUnits(),
  proc = "/proc",
): ProcessTable {
  const msPerTick = 1000 / units.clockTicks;
  return {
    async read() {
      const out: ProcessReading[] = [];
      for (const pid of listPids(proc)) {
        const s = readPidStat(pid, proc);
        if (s === null) continue; // ended between the listing and the read
        out.push({
          pid: s.pid,
          start: s.startTicks,
          name: s.comm,
          rssBytes: s.rssPages * units.pageSize,
          cpuMs: s.cpuTicks * msPerTick,
        });
      }
      return out;
    },
    details(p) {
      const d: ProcessDetails = { name: p.name };
      if (p.name.length >= COMM_MAX) {
        const argv0 = readText(`${proc}/${p.pid}/cmdline`)?.split("\u0000")[0] ?? "";
        const full = basename(argv0);
        if (full.startsWith(p.name)) d.name = full;
      }
      const io = readText(`${proc}/${p.pid}/io`);
      const bytes = io === null ? null : parseProcIo(io);
      if (bytes !== null) d.io = bytes;
      return d;
    },
  };
}

interface SiProcess {
  pid: number;
  name: string;
  cpu: number;
  memRss: number;
  started: string;
}

/**
 * Windows, macOS and the rest, through `systeminformation.processes()`, which keeps its own
 * previous CPU reading between calls. Its `cpu` is a share of the whole machine on Windows and a
 * share of one core (ps) elsewhere; it is reported as a share of one core. No disk figures.
 */
export function portableProcessTable(platform: NodeJS.Platform, cpuCount: number): ProcessTable {
  let si: Promise<{ processes(): Promise<{ list: SiProcess[] }> }> | null = null;
  const scale = platform === "win32" ? Math.max(1, cpuCount) : 1;
  return {
    async read() {
      si ??= import("systeminformation").then(
        (m) => (m.default ?? m) as unknown as { processes(): Promise<{ list: SiProcess[] }> },
      );
      const { list } = await (await si).processes();
      return list.map((p) => ({
        pid: p.pid,
        start: Date.parse(p.started) || 0,
        name: basename(p.name.replaceAll("\\", "/")),
        rssBytes: Math.max(0, p.memRss) * 1024,
        cpuPct: Math.max(0, p.cpu) * scale,
      }));
    },
    details: (p) => ({ name: p.name }),
  };
}
