import { describe, expect, it } from "vitest";
import { firstTickSpreadMs } from "../../../src/services/perf/firstTickSpread.js";

describe("first-tick spread", () => {
  it("is stable for one agent and stays below min(interval, 5 s)", () => {
    expect(firstTickSpreadMs("pc-17", "heartbeat", 30_000)).toBe(
      firstTickSpreadMs("pc-17", "heartbeat", 30_000),
    );
    for (let i = 0; i < 200; i++) {
      expect(firstTickSpreadMs(`pc-${i}`, "heartbeat", 30_000)).toBeLessThan(5_000);
      expect(firstTickSpreadMs(`pc-${i}`, "heartbeat", 1_000)).toBeLessThan(1_000);
      expect(firstTickSpreadMs(`pc-${i}`, "heartbeat", 1_000)).toBeGreaterThanOrEqual(0);
    }
    expect(firstTickSpreadMs("pc-1", "heartbeat", 0)).toBe(0);
  });

  it("spreads a fleet with sequential ids over the whole window", () => {
    const offsets = Array.from({ length: 1_000 }, (_, i) =>
      firstTickSpreadMs(`pc-${String(i).padStart(4, "0")}`, "heartbeat", 30_000),
    );
    // Ten 500 ms buckets: each gets roughly a tenth of the fleet, none is empty or crowded.
    const buckets = Array(10).fill(0) as number[];
    for (const o of offsets) buckets[Math.floor(o / 500)]! += 1;
    for (const n of buckets) expect(n).toBeGreaterThan(60);
    for (const n of buckets) expect(n).toBeLessThan(140);
    // Neighbouring ids are not neighbours in time.
    const gaps = offsets.slice(1).map((o, i) => Math.abs(o - (offsets[i] ?? 0)));
    expect(gaps.filter((g) => g < 50).length).toBeLessThan(100);
  });

  it("gives one agent's tickers different offsets by salt", () => {
    const salts = ["heartbeat", "perf"];
    const differ = Array.from({ length: 50 }, (_, i) => `pc-${i}`).filter(
      (id) => firstTickSpreadMs(id, salts[0]!, 30_000) !== firstTickSpreadMs(id, salts[1]!, 30_000),
    );
    expect(differ.length).toBeGreaterThan(45);
  });
});
