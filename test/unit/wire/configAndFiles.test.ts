import { describe, expect, it } from "vitest";
import {
  applyScope,
  decodeAgentGroups,
  decodeConfigScope,
  decodeLocalCompletions,
  decodeLogsRequest,
  decodeManifest,
  decodeReleaseState,
  decodeSchedule,
  defaultEffectiveConfig,
  emptyReleaseState,
  encodeEffectiveConfig,
  encodeLocalCompletions,
  interpretEffectiveConfig,
  isProcessPerfActive,
  parseJson,
} from "../../../src/services/wire/index.js";
import { fixtureBytes, fixtureObject } from "./fixtureKit.js";

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

describe("ConfigScope and EffectiveConfig (wire §5.1)", () => {
  it("defaults match the fixture, with max_local_concurrent = CPUs", () => {
    expect(encodeEffectiveConfig(defaultEffectiveConfig(6))).toEqual({
      ...fixtureObject("effective-config-defaults.json"),
      max_local_concurrent: 6,
    });
  });

  it("treats null as unset and ignores later kanade members", () => {
    const decoded = decodeConfigScope(fixtureObject("config-scope-unknown-fields.json"));
    expect(decoded).toEqual({
      ok: true,
      value: { heartbeatInterval: "1s", maxLocalConcurrent: 4 },
    });
  });

  it("resolves layers, last wins, unset members fall through", () => {
    const global = decodeConfigScope({ heartbeat_interval: "10s", process_perf_top_n: 5 });
    const pc = decodeConfigScope({ heartbeat_interval: "5s", target_version: "1.2.0" });
    if (!global.ok || !pc.ok) throw new Error("scopes must decode");
    const resolved = applyScope(applyScope(defaultEffectiveConfig(2), global.value), pc.value);
    expect(resolved).toMatchObject({
      heartbeatInterval: "5s",
      processPerfTopN: 5,
      targetVersion: "1.2.0",
      hostPerfInterval: "60s",
    });
  });

  it("interprets durations with the fallbacks and bounds of §5.1", () => {
    const config = {
      ...defaultEffectiveConfig(8),
      heartbeatInterval: "200ms", // below 1 s → 1 s
      hostPerfInterval: "soon", // invalid → 60 s
      targetVersionJitter: "5", // invalid → 0
      inventoryInterval: "30s", // below 1 min → 1 min
      inventoryCheckInterval: "2h",
      processPerfTopN: 9_999, // clamped to 500
      maxLocalConcurrent: 0, // 0 → number of CPUs
    };
    expect(interpretEffectiveConfig(config, 8)).toEqual({
      targetVersion: null,
      targetVersionJitterMs: 0,
      heartbeatIntervalMs: 1_000,
      hostPerfIntervalMs: 60_000,
      processPerfTopN: 500,
      inventoryEnabled: true,
      inventoryIntervalMs: 60_000,
      inventoryJitterMs: 60_000,
      inventoryCheckIntervalMs: 7_200_000,
      maxLocalConcurrent: 8,
    });
  });

  it("runs process perf only while enabled and unexpired; an invalid expiry turns it off", () => {
    const now = Date.UTC(2026, 4, 16, 11);
    const on = { ...defaultEffectiveConfig(1), processPerfEnabled: true };
    expect(isProcessPerfActive(on, now)).toBe(true);
    expect(isProcessPerfActive({ ...on, processPerfExpiresAt: "2026-05-16T12:00:00Z" }, now)).toBe(
      true,
    );
    expect(isProcessPerfActive({ ...on, processPerfExpiresAt: "2026-05-16T10:00:00Z" }, now)).toBe(
      false,
    );
    expect(isProcessPerfActive({ ...on, processPerfExpiresAt: "noon" }, now)).toBe(false);
    expect(isProcessPerfActive({ ...on, processPerfEnabled: false }, now)).toBe(false);
  });
});

describe("AgentGroups (wire §5.2)", () => {
  it("sorts by byte order and removes duplicates", () => {
    const decoded = decodeAgentGroups({ groups: ["wave1", "Canary", "canary", "wave1", "ä"] });
    expect(decoded.ok && decoded.value.groups).toEqual(["Canary", "canary", "wave1", "ä"]);
  });
});

describe("Schedule and Manifest (wire §5.3)", () => {
  const schedule = fixtureObject("schedule-runs-on-agent.json");

  it("applies the schedule defaults", () => {
    const decoded = decodeSchedule({ id: "s", cron: "0 0 * * * * 2027", job_id: "j" });
    expect(decoded).toEqual({
      ok: true,
      value: {
        id: "s",
        cron: "0 0 * * * * 2027",
        jobId: "j",
        target: { all: false, pcs: [], groups: [] },
        mode: "every_tick",
        runsOn: "backend",
        enabled: true,
      },
    });
  });

  it("refuses a cron without 6 or 7 fields and a `when` schedule", () => {
    for (const cron of ["* * * * * * * *", "", "0 3 * * *"]) {
      const decoded = decodeSchedule({ ...schedule, cron });
      expect(decoded.ok ? null : decoded.error.field).toBe("cron");
    }
    const { cron: _cron, ...withoutCron } = schedule;
    const when = decodeSchedule({ ...withoutCron, when: { every: "1h" } });
    expect(when.ok ? "" : when.error.message).toMatch(/^cron: .*when/);
  });

  it("decodes a manifest whose body is an object, so that firing it can give exit 122", () => {
    const manifest = fixtureObject("job-manifest.json");
    const execute = { shell: "sh", script_object: "disk-report/1.0.0" };
    const decoded = decodeManifest({ ...manifest, execute });
    expect(decoded.ok && decoded.value.execute).toEqual({
      shell: "sh",
      script: "",
      scriptObject: "disk-report/1.0.0",
      runAs: "system",
    });
    const neither = decodeManifest({ ...manifest, execute: { shell: "sh" } });
    expect(neither.ok ? null : neither.error.field).toBe("execute.script");
  });
});

describe("LogsRequest (wire §4.10)", () => {
  it.each([
    ["logs-request.json", 100],
    ["logs-request-empty.json", 500],
    ["invalid/logs-request-wrong-type.json", 500],
  ])("%s → %d lines", (file, lines) => {
    expect(decodeLogsRequest(fixtureBytes(file))).toEqual({ tailLines: lines });
  });

  it.each([
    ["an empty body", ""],
    ["not JSON", "tail 100"],
    ["null", "null"],
    ["a negative count", '{"tail_lines":-1}'],
  ])("treats %s as {}", (_what, body) => {
    expect(decodeLogsRequest(utf8(body))).toEqual({ tailLines: 500 });
  });

  it("keeps an explicit 0", () => {
    expect(decodeLogsRequest(utf8('{"tail_lines":0}'))).toEqual({ tailLines: 0 });
  });
});

describe("local files", () => {
  it("local_completions.json keeps arbitrary keys as plain entries", () => {
    const decoded = decodeLocalCompletions({ "__proto__::x": "2026-05-16T00:00:00Z" });
    if (!decoded.ok) throw new Error(decoded.error.message);
    expect(decoded.value.get("__proto__::x")).toBe(Date.UTC(2026, 4, 16));
    const encoded = JSON.parse(JSON.stringify(encodeLocalCompletions(decoded.value)));
    expect(encoded).toEqual({ "__proto__::x": "2026-05-16T00:00:00.000Z" });
  });

  it("local_completions.json with a bad timestamp names the key", () => {
    const decoded = decodeLocalCompletions({
      "a::b": "2026-05-16",
      "c::d": "2026-05-16T00:00:00Z",
    });
    expect(decoded.ok ? null : decoded.error.field).toBe("a::b");
  });

  it("staging/state.json: the release fixture decodes; all-null is the empty state", () => {
    const decoded = decodeReleaseState(fixtureObject("release-state.json"));
    expect(decoded.ok && decoded.value.pending).toEqual({
      version: "1.2.0",
      armedAt: Date.UTC(2026, 4, 16, 3),
      boots: 1,
    });
    const empty = decodeReleaseState({ current: null, previous: null, pending: null });
    expect(empty).toEqual({ ok: true, value: emptyReleaseState() });
  });
});

describe("parseJson (wire §1.1.1)", () => {
  it("refuses a byte order mark, in bytes and in text", () => {
    expect(parseJson(new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d])).ok).toBe(false);
    expect(parseJson("\uFEFF{}").ok).toBe(false);
  });

  it("refuses invalid UTF-8 and accepts valid multi-byte text", () => {
    expect(parseJson(new Uint8Array([0x22, 0xc3, 0x28, 0x22])).ok).toBe(false);
    expect(parseJson(utf8('"Core™"'))).toEqual({ ok: true, value: "Core™" });
  });
});
