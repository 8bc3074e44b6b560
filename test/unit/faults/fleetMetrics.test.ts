import { describe, expect, it } from "vitest";
import { formatMs, maxInWindow, percentile, summarize } from "../../../fleet/metrics.js";

describe("fleet simulator figures", () => {
  it("percentiles by nearest rank", () => {
    const v = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentile(v, 50)).toBe(50);
    expect(percentile(v, 99)).toBe(99);
    expect(percentile(v, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
    expect(summarize([3, 1, 2])).toEqual({ count: 3, p50: 2, p99: 3, max: 3 });
  });

  it("counts the most events in any 10 s window (connection attempts per agent)", () => {
    // Attempts every 2 s: five fall in [0, 10 s), the sixth at 10 s starts a new window.
    expect(maxInWindow([0, 2_000, 4_000, 6_000, 8_000, 10_000], 10_000)).toBe(5);
    expect(maxInWindow([0, 9_999, 20_000], 10_000)).toBe(2);
    expect(maxInWindow([5_000, 0], 10_000)).toBe(2);
    expect(maxInWindow([], 10_000)).toBe(0);
  });

  it("formats durations", () => {
    expect(formatMs(12.4)).toBe("12 ms");
    expect(formatMs(2_345)).toBe("2.35 s");
    expect(formatMs(Number.NaN)).toBe("n/a");
  });
});
