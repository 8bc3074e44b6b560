// Validation of `kanade config set` values, the write-back that keeps unknown members, the exit
// code mapping of `kanade run`, and the table layout.
import { describe, expect, it } from "vitest";
import { passthroughExitCode } from "../../../src/cli/commands/run.js";
import { fieldNamed, parseFieldValue } from "../../../src/cli/configValues.js";
import { CliError } from "../../../src/cli/errors.js";
import { renderTable } from "../../../src/cli/format/table.js";
import { rewriteConfigScope } from "../../../src/services/wire/configFields.js";
import { encodeConfigScope } from "../../../src/services/wire/index.js";

const NOW = Date.parse("2026-05-16T00:00:00.000Z");
const parse = (field: string, text: string) => parseFieldValue(fieldNamed(field), text, NOW);
const usage = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return err instanceof CliError ? err.exitCode : -1;
  }
  return 0;
};

describe("config values", () => {
  it("accepts what the agent can use and keeps durations as typed", () => {
    expect(parse("heartbeat_interval", "1h 30m").value).toBe("1h 30m");
    expect(parse("inventory_enabled", "false").value).toBe(false);
    expect(parse("process_perf_enabled", "YES").value).toBe(true);
    expect(parse("max_local_concurrent", "4").value).toBe(4);
    expect(parse("target_version", "0.3.0").value).toBe("0.3.0");
  });

  it("turns a duration for the expiry into a timestamp from now", () => {
    expect(parse("process_perf_expires_at", "2h").value).toBe("2026-05-16T02:00:00.000Z");
    expect(parse("process_perf_expires_at", "2026-06-01T00:00:00+09:00").value).toBe(
      "2026-06-01T00:00:00+09:00",
    );
  });

  it("refuses invalid values and unknown fields as usage errors", () => {
    expect(usage(() => parse("heartbeat_interval", "15"))).toBe(2);
    expect(usage(() => parse("heartbeat_interval", "15 parsecs"))).toBe(2);
    expect(usage(() => parse("inventory_enabled", "maybe"))).toBe(2);
    expect(usage(() => parse("process_perf_top_n", "1.5"))).toBe(2);
    expect(usage(() => parse("max_local_concurrent", "4294967296"))).toBe(2);
    expect(usage(() => parse("target_version", " "))).toBe(2);
    expect(usage(() => fieldNamed("client_display_name"))).toBe(2);
  });

  it("notes values the agent will clamp", () => {
    expect(parse("heartbeat_interval", "500ms").note).toContain("1s");
    expect(parse("process_perf_top_n", "900").note).toContain("500");
    expect(parse("heartbeat_interval", "15s").note).toBeUndefined();
  });
});

describe("rewriteConfigScope", () => {
  it("replaces the members it knows and keeps the others", () => {
    const raw = { heartbeat_interval: "10s", client_display_name: "Lab", target_version: "1" };
    expect(rewriteConfigScope(raw, { heartbeatInterval: "20s" })).toEqual({
      heartbeat_interval: "20s",
      client_display_name: "Lab",
    });
  });

  it("knows every ConfigScope member the codec writes", () => {
    const full = encodeConfigScope({
      targetVersion: "1",
      targetVersionJitter: "1s",
      heartbeatInterval: "1s",
      hostPerfInterval: "1s",
      processPerfEnabled: true,
      processPerfExpiresAt: "2026-01-01T00:00:00Z",
      processPerfTopN: 1,
      inventoryEnabled: true,
      inventoryInterval: "1h",
      inventoryJitter: "1s",
      inventoryCheckInterval: "1h",
      maxLocalConcurrent: 1,
    });
    for (const name of Object.keys(full)) expect(fieldNamed(name).name).toBe(name);
    // Removing every member leaves nothing of them behind.
    expect(rewriteConfigScope(full, {})).toEqual({});
  });
});

describe("run exit codes", () => {
  it("passes 0–255 through and maps anything else to 1", () => {
    expect(passthroughExitCode(0)).toBe(0);
    expect(passthroughExitCode(42)).toBe(42);
    expect(passthroughExitCode(126)).toBe(126);
    expect(passthroughExitCode(255)).toBe(255);
    expect(passthroughExitCode(-1)).toBe(1);
    expect(passthroughExitCode(256)).toBe(1);
    expect(passthroughExitCode(-1073741819)).toBe(1);
  });
});

describe("renderTable", () => {
  it("pads columns and right-aligns numbers", () => {
    const text = renderTable(
      [{ header: "NAME" }, { header: "N", right: true }],
      [
        ["a", 5],
        ["longer", 123],
      ],
    );
    expect(text).toBe("NAME      N\na         5\nlonger  123\n");
  });
});
