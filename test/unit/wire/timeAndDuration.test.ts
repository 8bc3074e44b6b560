import { describe, expect, it } from "vitest";
// Imported directly (not through index.ts) so that this file does not load zod.
import { formatDuration, parseDuration } from "../../../src/services/wire/duration.js";
import { formatTimestamp, parseTimestamp } from "../../../src/services/wire/timestamp.js";

const MAY_16 = Date.UTC(2026, 4, 16);

describe("parseTimestamp (wire §1.2)", () => {
  it.each([
    ["2026-05-16T00:00:00Z", MAY_16],
    ["2026-05-16T00:00:00.000Z", MAY_16],
    ["2026-05-16T09:00:00+09:00", MAY_16],
    ["2026-05-15T18:30:00-05:30", MAY_16],
    ["2026-05-16T00:00:00-00:00", MAY_16],
    ["2026-05-16t00:00:00z", MAY_16],
    ["2026-05-16T00:00:00.1Z", MAY_16 + 100],
    ["2026-05-16T00:00:00.123456Z", MAY_16 + 123],
    // Sub-millisecond digits are truncated, not rounded.
    ["2026-05-16T00:00:00.123999999Z", MAY_16 + 123],
    ["2026-05-16T00:00:00.999999999+01:00", MAY_16 - 3_600_000 + 999],
    ["2024-02-29T12:00:00Z", Date.UTC(2024, 1, 29, 12)],
    ["1969-12-31T23:59:59.999Z", -1],
    ["0001-01-01T00:00:00Z", -62_135_596_800_000],
  ])("%s", (text, ms) => {
    expect(parseTimestamp(text)).toBe(ms);
  });

  it.each([
    "2026-05-16", // date only
    "2026-05-16T00:00:00", // no zone
    "2026-05-16T00:00:00.123", // no zone
    "2026-05-16 00:00:00Z", // space separator
    "2026-05-16T00:00:00.Z", // dot without digits
    "2026-05-16T00:00:00.1234567890Z", // 10 fraction digits
    "2026-05-16T00:00Z", // no seconds
    "2026-05-16T00:00:00+0900", // offset without colon
    "2026-05-16T00:00:00+09", // offset without minutes
    "2026-05-16T00:00:00+24:00",
    "2026-02-30T00:00:00Z",
    "2100-02-29T00:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-05-16T24:00:00Z",
    "2026-05-16T23:60:00Z",
    "2026-05-16T23:59:60Z", // leap second: not representable in epoch ms
    "+2026-05-16T00:00:00Z",
    "yesterday",
    "",
    " 2026-05-16T00:00:00Z",
    "1778889600000",
  ])("%j is refused", (text) => {
    expect(parseTimestamp(text)).toBeNull();
  });
});

describe("formatTimestamp", () => {
  it("writes UTC with exactly three fraction digits and Z", () => {
    expect(formatTimestamp(MAY_16)).toBe("2026-05-16T00:00:00.000Z");
    expect(formatTimestamp(MAY_16 + 30_001)).toBe("2026-05-16T00:00:30.001Z");
    expect(formatTimestamp(0)).toBe("1970-01-01T00:00:00.000Z");
  });

  it("round-trips through parseTimestamp", () => {
    for (const ms of [MAY_16 + 123, -1, 253_402_300_799_999, -62_167_219_200_000]) {
      expect(parseTimestamp(formatTimestamp(ms))).toBe(ms);
    }
  });

  it("refuses values that are not an instant it can spell", () => {
    expect(() => formatTimestamp(Number.NaN)).toThrow(RangeError);
    expect(() => formatTimestamp(253_402_300_800_000)).toThrow(RangeError);
  });
});

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

describe("parseDuration (wire §1.3)", () => {
  it.each([
    ["0", 0],
    ["0s", 0],
    ["30s", 30 * S],
    ["5m", 5 * M],
    ["1h 30m", 90 * M],
    ["1h30m", 90 * M],
    ["  1h   30m  ", 90 * M],
    ["250ms", 250],
    ["1msec", 1],
    ["2 days", 2 * D],
    ["3sec 4secs", 7 * S],
    ["1second 2seconds", 3 * S],
    ["1min 2mins 3minute 4minutes", 10 * M],
    ["1hr 2hrs 3hour 4hours", 10 * H],
    ["1d 1day", 2 * D],
    ["1w 1week 1weeks", 21 * D],
    ["1M", 2_630_016 * S],
    ["2months", 2 * 2_630_016 * S],
    ["1y", 31_557_600 * S],
    ["1year 1years", 2 * 31_557_600 * S],
    ["24h", D],
  ])("%j = %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it("is case-sensitive: m is a minute, M a month", () => {
    expect(parseDuration("1m")).toBe(60 * S);
    expect(parseDuration("1M")).toBe(2_630_016 * S);
    expect(parseDuration("1H")).toBeNull();
  });

  it.each([
    "5", // a number without unit (only "0" is allowed)
    "00",
    " 0",
    "",
    "   ",
    "s",
    "1x",
    "1.5h",
    "-5s",
    "+5s",
    "1h m",
    "1h,30m",
    "5 minutes ago",
    "1ns", // not in the spec's unit list
    "99999999999999999999y",
  ])("%j is invalid", (text) => {
    expect(parseDuration(text)).toBeNull();
  });
});

describe("formatDuration (the <dur> placeholder of wire §4.4)", () => {
  it.each([
    [0, "0s"],
    [999, "0s"],
    [-5 * S, "0s"],
    [45 * S, "45s"],
    [45 * S + 999, "45s"],
    [5 * M, "5m"],
    [12 * M + 30 * S, "12m 30s"],
    [H + 2 * M + 3 * S, "1h 2m 3s"],
    [2 * H + 5 * M + 500, "2h 5m"],
    [D, "1d"],
    [D + H + M + S, "1d 1h 1m 1s"],
    [3 * D + 5 * S, "3d 5s"],
  ])("%d ms → %s", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it("is read back by parseDuration to the whole seconds", () => {
    const ms = 3 * D + 4 * H + 5 * M + 6 * S + 789;
    expect(parseDuration(formatDuration(ms))).toBe(ms - 789);
  });
});
