import { describe, expect, it } from "vitest";
import { portableHostCounters } from "../../../src/services/perf/hostCounters.js";
import { hostPerfOf } from "../../../src/services/perf/hostPerf.js";
import { portableProcessTable } from "../../../src/services/perf/processTable.js";

// The Windows/macOS readers (os + systeminformation) also work here, so they are exercised on
// every host even though Linux uses /proc.
describe("portable readers", () => {
  it("read host counters that turn into a full snapshot", async () => {
    const read = portableHostCounters(process.platform === "win32" ? "win32" : "darwin");
    const first = await read();
    const second = await read();
    expect(first.cpuCount).toBeGreaterThan(0);
    expect(first.memTotalBytes).toBeGreaterThan(0);
    const perf = hostPerfOf("pc", 1, second, { counters: first, elapsedMs: 1_000 });
    expect(perf.memUsedBytes).toBeGreaterThan(0);
    expect(perf.netRxBytesPerSec).toBeGreaterThanOrEqual(0);
  });

  it("list processes, this one included, with a name and memory", async () => {
    const table = portableProcessTable(process.platform, 2);
    const list = await table.read();
    const me = list.find((p) => p.pid === process.pid);
    expect(me?.rssBytes).toBeGreaterThan(2 ** 20);
    expect(me?.name).not.toContain("/");
    expect(me?.cpuPct).toBeGreaterThanOrEqual(0);
  });
});
