import { describe, expect, it } from "vitest";
import { AgentSelfSampler } from "../../../src/services/perf/agentSelf.js";
import { HeartbeatSource } from "../../../src/services/perf/heartbeat.js";
import type { HostCounters } from "../../../src/services/perf/hostCounters.js";
import { osFamilyOf } from "../../../src/services/perf/hostIdentity.js";
import { HostPerfSampler, hostPerfOf } from "../../../src/services/perf/hostPerf.js";
import { ProcessPerfSampler } from "../../../src/services/perf/processPerf.js";
import type { ProcessReading, ProcessTable } from "../../../src/services/perf/processTable.js";
import type { Clock } from "../../../src/services/time/clock.js";

function manualClock(start = 1_700_000_000_000) {
  let t = 0;
  const clock: Clock = { now: () => start + t, monotonic: () => t };
  return { clock, advance: (ms: number) => (t += ms) };
}

describe("host perf", () => {
  const first: HostCounters = {
    cpu: { busy: 1_000, total: 10_000 },
    cpuCount: 4,
    memTotalBytes: 8_000,
    memAvailableBytes: 3_000,
    swapTotalBytes: 0,
    swapUsedBytes: 0,
    disk: { readBytes: 1_000, writtenBytes: 2_000 },
    net: { rxBytes: 10_000, txBytes: 500 },
  };
  const second: HostCounters = {
    ...first,
    cpu: { busy: 1_300, total: 11_000 },
    memAvailableBytes: 2_000,
    swapTotalBytes: 4_000,
    swapUsedBytes: 1_000,
    disk: { readBytes: 5_000, writtenBytes: 2_000 },
    net: { rxBytes: 30_000, txBytes: 2_500 },
  };

  it("has no rates on a baseline sample and omits swap when there is none", () => {
    expect(hostPerfOf("pc", 5, first, null)).toEqual({
      pcId: "pc",
      at: 5,
      cpuCount: 4,
      memTotalBytes: 8_000,
      memUsedBytes: 5_000,
    });
  });

  it("computes rates since the previous sample", () => {
    expect(hostPerfOf("pc", 5, second, { counters: first, elapsedMs: 2_000 })).toEqual({
      pcId: "pc",
      at: 5,
      cpuCount: 4,
      cpuPct: 30,
      memTotalBytes: 8_000,
      memUsedBytes: 6_000,
      swapTotalBytes: 4_000,
      swapUsedBytes: 1_000,
      diskReadBytesPerSec: 2_000,
      diskWrittenBytesPerSec: 0,
      netRxBytesPerSec: 10_000,
      netTxBytesPerSec: 1_000,
    });
  });

  it("gives no rate for a counter that went backwards", () => {
    const reset = { ...second, net: { rxBytes: 5, txBytes: 5 } };
    const perf = hostPerfOf("pc", 5, reset, { counters: first, elapsedMs: 1_000 });
    expect(perf.netRxBytesPerSec).toBeUndefined();
    expect(perf.diskReadBytesPerSec).toBe(4_000);
  });

  it("starts a new baseline when the interval changes", async () => {
    const { clock, advance } = manualClock();
    const readings = [first, second, first, second];
    const sampler = new HostPerfSampler("pc", clock, async () => readings.shift() ?? second);
    expect((await sampler.sample(1_000)).cpuPct).toBeUndefined();
    advance(1_000);
    expect((await sampler.sample(1_000)).cpuPct).toBe(30);
    advance(1_000);
    expect((await sampler.sample(2_000)).cpuPct).toBeUndefined();
    advance(2_000);
    expect((await sampler.sample(2_000)).netRxBytesPerSec).toBe(10_000);
  });
});

function scriptedTable(rounds: ProcessReading[][]): ProcessTable & { detailsAsked: number[] } {
  const asked: number[] = [];
  let round = -1;
  return {
    detailsAsked: asked,
    async read() {
      round++;
      return rounds[Math.min(round, rounds.length - 1)] ?? [];
    },
    details(p) {
      asked.push(p.pid);
      // Disk counters grow by pid × 1000 bytes per round.
      return { name: `${p.name}-full`, io: { readBytes: p.pid * 1000 * round, writtenBytes: 0 } };
    },
  };
}

const proc = (pid: number, cpuMs: number, start = 1): ProcessReading => ({
  pid,
  start,
  name: `p${pid}`,
  rssBytes: pid * 100,
  cpuMs,
});

describe("process perf", () => {
  it("first samples, then reports the top n by CPU since the previous sample, ties by pid", async () => {
    const { clock, advance } = manualClock();
    const table = scriptedTable([
      [proc(1, 0), proc(2, 0), proc(3, 0), proc(4, 0), proc(5, 0)],
      // 2 s later: pid 4 used 1 s (50 %), 2 and 3 used 0.5 s each (25 %), 5 none, 1 a little.
      [proc(1, 100), proc(2, 500), proc(3, 500), proc(4, 1_000), proc(5, 0)],
    ]);
    const sampler = new ProcessPerfSampler("pc", clock, table);
    expect(await sampler.sample(3, 60_000)).toBeNull();
    expect(table.detailsAsked).toEqual([]);
    advance(2_000);
    const perf = await sampler.sample(3, 60_000);
    expect(perf?.processes.map((p) => [p.pid, p.cpuPct])).toEqual([
      [4, 50],
      [2, 25],
      [3, 25],
    ]);
    expect(perf?.processes[0]).toMatchObject({ name: "p4-full", rssBytes: 400 });
    // Details only for the reported few.
    expect(table.detailsAsked).toEqual([4, 2, 3]);
    // First time on the list: no disk rates yet.
    expect(perf?.processes[0]?.diskReadBytesPerSec).toBeUndefined();
  });

  it("reports disk rates for a process listed twice in a row and counts new processes from zero", async () => {
    const { clock, advance } = manualClock();
    const table = scriptedTable([
      [proc(7, 0)],
      [proc(7, 1_000)],
      // pid 9 is new: all of its 400 ms count; pid 7 was reused (new start): from zero too.
      [proc(7, 100, 2), proc(9, 400)],
    ]);
    const sampler = new ProcessPerfSampler("pc", clock, table);
    await sampler.sample(5, 1_000);
    advance(1_000);
    const second = await sampler.sample(5, 1_000);
    expect(second?.processes).toEqual([{ pid: 7, name: "p7-full", cpuPct: 100, rssBytes: 700 }]);
    advance(1_000);
    const third = await sampler.sample(5, 1_000);
    expect(third?.processes.map((p) => [p.pid, p.cpuPct])).toEqual([
      [9, 40],
      [7, 10],
    ]);
    // pid 7 was reused: its old disk counters do not apply.
    expect(third?.processes.find((p) => p.pid === 7)?.diskReadBytesPerSec).toBeUndefined();
  });

  it("computes disk rates against the previous report of the same process", async () => {
    const { clock, advance } = manualClock();
    const table = scriptedTable([[proc(3, 0)], [proc(3, 10)], [proc(3, 20)]]);
    const sampler = new ProcessPerfSampler("pc", clock, table);
    await sampler.sample(5, 1_000);
    advance(1_000);
    await sampler.sample(5, 1_000);
    advance(2_000);
    const perf = await sampler.sample(5, 1_000);
    // 3000 bytes more over 2 s.
    expect(perf?.processes[0]).toMatchObject({
      diskReadBytesPerSec: 1_500,
      diskWrittenBytesPerSec: 0,
    });
  });

  it("starts over after reset() or an interval change", async () => {
    const { clock, advance } = manualClock();
    const table = scriptedTable([[proc(1, 0)], [proc(1, 10)], [proc(1, 20)], [proc(1, 30)]]);
    const sampler = new ProcessPerfSampler("pc", clock, table);
    await sampler.sample(5, 1_000);
    sampler.reset();
    advance(1_000);
    expect(await sampler.sample(5, 1_000)).toBeNull();
    advance(1_000);
    expect(await sampler.sample(5, 2_000)).toBeNull();
    advance(1_000);
    expect(await sampler.sample(5, 2_000)).not.toBeNull();
  });
});

describe("heartbeat", () => {
  it("reports the agent's CPU share of one core since the previous beat, absent at first", () => {
    const { clock, advance } = manualClock();
    let cpuMicros = 0;
    const self = new AgentSelfSampler(clock, {
      cpuMicros: () => cpuMicros,
      rssBytes: () => 50_000_000,
      io: () => ({ readBytes: 10, writtenBytes: 20 }),
    });
    const source = new HeartbeatSource({
      pcId: "pc-1",
      agentVersion: "1.2.3",
      clock,
      identity: { hostname: "host-a", osFamily: "linux" },
      quarantinedVersions: () => ["0.9.1", "0.9.0"],
      self,
    });
    expect(source.beat()).toEqual({
      pcId: "pc-1",
      at: clock.now(),
      agentVersion: "1.2.3",
      hostname: "host-a",
      osFamily: "linux",
      agentRssBytes: 50_000_000,
      agentDiskReadBytes: 10,
      agentDiskWrittenBytes: 20,
      quarantinedVersions: ["0.9.0", "0.9.1"],
    });
    // 1.5 s of CPU over 1 s of wall time: one and a half cores.
    advance(1_000);
    cpuMicros += 1_500_000;
    expect(source.beat().agentCpuPct).toBeCloseTo(150);
    // A ping in between neither reports perf nor moves the baseline.
    advance(1_000);
    cpuMicros += 200_000;
    const ping = source.ping();
    expect(Object.keys(ping).filter((k) => k.startsWith("agent") && k !== "agentVersion")).toEqual(
      [],
    );
    advance(1_000);
    expect(source.beat().agentCpuPct).toBeCloseTo(10);
  });

  it("names the OS family as the wire expects", () => {
    expect(osFamilyOf("win32")).toBe("windows");
    expect(osFamilyOf("darwin")).toBe("macos");
    expect(osFamilyOf("linux")).toBe("linux");
    expect(osFamilyOf("freebsd")).toBe("freebsd");
  });
});
