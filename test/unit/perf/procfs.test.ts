import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  listPids,
  listWholeDisks,
  parseAuxv,
  parseCpuTimes,
  parseDiskStats,
  parseMemInfo,
  parseNetDev,
  parsePidStat,
  parseProcIo,
  readKernelUnits,
} from "../../../src/services/perf/procfs.js";

const onLinux = process.platform === "linux";

describe("procfs parsers", () => {
  it("reads whole-host CPU time and counts the logical cores", () => {
    const stat = [
      "cpu  100 5 50 800 20 3 2 10 7 0",
      "cpu0 50 2 25 400 10 1 1 5 3 0",
      "cpu1 50 3 25 400 10 2 1 5 4 0",
      "intr 12345",
    ].join("\n");
    // iowait counts as idle; guest time is already inside user.
    expect(parseCpuTimes(stat)).toEqual({ busy: 170, total: 990, cpuCount: 2 });
    expect(parseCpuTimes("intr 1\n")).toBeNull();
  });

  it("reads memory in bytes, falling back when MemAvailable is missing", () => {
    const text =
      "MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 600 kB\nSwapTotal: 50 kB\nSwapFree: 20 kB\n";
    expect(parseMemInfo(text)).toEqual({
      totalBytes: 1_024_000,
      availableBytes: 614_400,
      swapTotalBytes: 51_200,
      swapFreeBytes: 20_480,
    });
    const old = "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 10 kB\nCached: 200 kB\n";
    expect(parseMemInfo(old)?.availableBytes).toBe(310 * 1024);
    expect(parseMemInfo("")).toBeNull();
  });

  it("sums disk bytes over whole disks only", () => {
    const text = [
      "   8       0 sda 10 0 100 0 20 0 200 0 0 0 0",
      "   8       1 sda1 10 0 100 0 20 0 200 0 0 0 0",
      " 253       0 dm-0 5 0 50 0 5 0 50 0 0 0 0",
      " 259       0 nvme0n1 1 0 2 0 3 0 4 0 0 0 0",
    ].join("\n");
    expect(parseDiskStats(text, new Set(["sda", "nvme0n1"]))).toEqual({
      readBytes: 102 * 512,
      writtenBytes: 204 * 512,
    });
  });

  it("sums network bytes over every interface including loopback", () => {
    const text = [
      "Inter-|   Receive                            |  Transmit",
      " face |bytes    packets errs drop fifo frame compressed multicast|bytes packets",
      "    lo: 1000 10 0 0 0 0 0 0 1000 10 0 0 0 0 0 0",
      "  eth0: 5000 20 0 0 0 0 0 0 700 5 0 0 0 0 0 0",
    ].join("\n");
    expect(parseNetDev(text)).toEqual({ rxBytes: 6000, txBytes: 1700 });
    expect(parseNetDev("")).toBeNull();
  });

  it("reads storage bytes of /proc/<pid>/io", () => {
    const text =
      "rchar: 9\nwchar: 9\nsyscr: 1\nsyscw: 1\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n";
    expect(parseProcIo(text)).toEqual({ readBytes: 4096, writtenBytes: 8192 });
    expect(parseProcIo("rchar: 1\n")).toBeNull();
  });

  it("reads a pid's stat even when the command name holds spaces and parentheses", () => {
    const stat =
      "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 9999 1000000 321 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";
    expect(parsePidStat(stat)).toEqual({
      pid: 4242,
      comm: "my (odd) name",
      cpuTicks: 300,
      startTicks: 9999,
      rssPages: 321,
    });
    expect(parsePidStat("garbage")).toBeNull();
  });

  it("finds page size and clock ticks in an auxiliary vector", () => {
    const words = [33n, 1n, 6n, 16384n, 17n, 250n, 0n, 0n];
    const le = Buffer.alloc(words.length * 8);
    for (const [i, w] of words.entries()) le.writeBigUInt64LE(w, i * 8);
    expect(parseAuxv(le, 8, "LE")).toEqual({ pageSize: 16384, clockTicks: 250 });
    const be32 = Buffer.alloc(words.length * 4);
    for (const [i, w] of words.entries()) be32.writeUInt32BE(Number(w), i * 4);
    expect(parseAuxv(be32, 4, "BE")).toEqual({ pageSize: 16384, clockTicks: 250 });
    expect(parseAuxv(Buffer.alloc(16), 8, "LE")).toBeNull();
  });
});

describe.runIf(onLinux)("procfs on this host", () => {
  it("reads this process's own stat with the kernel's units", () => {
    const units = readKernelUnits();
    expect([4096, 16384, 65536]).toContain(units.pageSize);
    expect(units.clockTicks).toBeGreaterThan(0);
    const me = parsePidStat(readFileSync(`/proc/${process.pid}/stat`, "latin1"));
    expect(me?.pid).toBe(process.pid);
    const rss = (me?.rssPages ?? 0) * units.pageSize;
    // Same figure as Node's own, within what the process allocates between the two reads.
    expect(Math.abs(rss - process.memoryUsage.rss())).toBeLessThan(16 * 2 ** 20);
    expect(listPids()).toContain(process.pid);
  });

  it("lists only hardware-backed whole disks", () => {
    for (const name of listWholeDisks()) expect(name).not.toMatch(/^(loop|ram|zram|dm-|md)/);
  });
});
