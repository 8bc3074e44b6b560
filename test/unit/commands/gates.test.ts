import { describe, expect, it } from "vitest";
import {
  deadlineNote,
  evaluateGates,
  type KvLookup,
} from "../../../src/services/commands/gates.js";
import { StalenessTracker } from "../../../src/services/nats/staleness.js";
import type { Command } from "../../../src/services/wire/types.js";
import { sampleCommand } from "../../helpers/commands.js";

const cmd = (over: Partial<Command> = {}): Command =>
  sampleCommand({ id: "inventory-hw", version: "0.1.0", requestId: "r", ...over });

function deps(
  opts: {
    kv?: Record<string, string>;
    now?: number;
    mono?: number;
    connected?: "up" | "down" | "never";
  } = {},
) {
  let mono = 0;
  const clock = { now: () => opts.now ?? 1_000_000, monotonic: () => mono };
  const staleness = new StalenessTracker(clock);
  if (opts.connected !== "never") {
    staleness.markUp();
    if (opts.connected === "down") {
      staleness.markDown();
      mono = opts.mono ?? 0;
    }
  }
  const reads: string[] = [];
  const readKv: KvLookup = async (bucket, key) => {
    reads.push(`${bucket}/${key}`);
    return opts.kv?.[`${bucket}/${key}`] ?? null;
  };
  return { platform: "linux" as NodeJS.Platform, staleness, readKv, clock, reads };
}

describe("command gates (behavior.md 5.2 steps 5–9)", () => {
  it("passes an ordinary command", async () => {
    expect(await evaluateGates(cmd(), 0, deps())).toBeNull();
  });

  it("rejects run_as user/system_gui and cmd off Windows with exit 122", async () => {
    expect(await evaluateGates(cmd({ runAs: "user" }), 0, deps())).toEqual({
      exitCode: 122,
      note: 'rejected: run_as "user" is not supported by this agent',
    });
    expect((await evaluateGates(cmd({ shell: "cmd" }), 0, deps()))?.exitCode).toBe(122);
  });

  it("strict staleness: inclusive bound, fails closed on an unparseable age, never-connected wording", async () => {
    const strict = cmd({ staleness: { mode: "strict", maxCacheAge: "5m" } });
    expect(await evaluateGates(strict, 0, deps({ connected: "down", mono: 300_000 }))).toBeNull();
    expect(await evaluateGates(strict, 0, deps({ connected: "down", mono: 301_000 }))).toEqual({
      exitCode: 127,
      note: "skipped: staleness policy (mode=strict) exceeded — agent has been disconnected for 5m 1s, max allowed 5m",
    });
    expect((await evaluateGates(strict, 0, deps({ connected: "never" })))?.note).toBe(
      "skipped: staleness policy (mode=strict) exceeded — agent has not connected since start, max allowed 5m",
    );
    const garbage = cmd({ staleness: { mode: "strict", maxCacheAge: "soon" } });
    expect((await evaluateGates(garbage, 0, deps({ connected: "down", mono: 1 })))?.exitCode).toBe(
      127,
    );
    expect(
      await evaluateGates(
        cmd({ staleness: { mode: "unchecked" } }),
        0,
        deps({ connected: "never" }),
      ),
    ).toBeNull();
  });

  it("version pin compares exactly; revoke needs the exact string REVOKED; pin is reported first", async () => {
    const pinned = deps({
      kv: { "script_current/inventory-hw": "0.2.0", "script_status/inventory-hw": "REVOKED" },
    });
    expect(await evaluateGates(cmd(), 0, pinned)).toEqual({
      exitCode: 124,
      note: "skipped: version pin mismatch (command version 0.1.0, script_current 0.2.0)",
    });
    expect(
      await evaluateGates(cmd(), 0, deps({ kv: { "script_current/inventory-hw": "0.1.0 " } })),
    ).not.toBeNull();
    expect(
      await evaluateGates(cmd(), 0, deps({ kv: { "script_status/inventory-hw": "REVOKED" } })),
    ).toEqual({
      exitCode: 126,
      note: "skipped: inventory-hw is revoked (script_status = REVOKED)",
    });
    expect(
      await evaluateGates(cmd(), 0, deps({ kv: { "script_status/inventory-hw": "revoked" } })),
    ).toBeNull();
  });

  it("the deadline is inclusive and the note carries the admission time", async () => {
    const deadline = Date.parse("2026-05-15T22:00:00.000Z");
    const received = Date.parse("2026-05-16T00:05:00.500Z");
    expect(
      await evaluateGates(cmd({ deadlineAt: deadline }), received, deps({ now: deadline })),
    ).toBeNull();
    expect(
      await evaluateGates(cmd({ deadlineAt: deadline }), received, deps({ now: received })),
    ).toEqual({
      exitCode: 125,
      note: "skipped: starting deadline expired 2h 5m ago (deadline 2026-05-15T22:00:00.000Z, received 2026-05-16T00:05:00.500Z)",
    });
    expect(deadlineNote(deadline, received, received)).toContain("2h 5m ago");
  });
});
