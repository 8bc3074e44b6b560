import { describe, expect, it } from "vitest";
import { taskkillInvocation } from "../../../src/services/exec/kill.js";
import { effectiveTimeoutMs } from "../../../src/services/exec/run.js";

describe("taskkill (behavior.md 7.12)", () => {
  it("kills the whole tree by pid, forcefully", () => {
    expect(taskkillInvocation(4242)).toEqual({
      file: "taskkill",
      args: ["/PID", "4242", "/T", "/F"],
    });
  });
});

describe("effective timeout (behavior.md 7.11)", () => {
  it("is at least one second", () => {
    expect(effectiveTimeoutMs(0)).toBe(1000);
    expect(effectiveTimeoutMs(Number.NaN)).toBe(1000);
    expect(effectiveTimeoutMs(60_000)).toBe(60_000);
  });
});
