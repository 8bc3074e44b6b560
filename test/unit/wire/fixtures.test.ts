// Golden fixtures (test/fixtures/wire/README.md): every valid file decodes, re-encodes to the
// expected value and decodes again; every invalid file fails naming the offending field.
import { describe, expect, it } from "vitest";
import type { Decoded } from "../../../src/services/wire/decoded.js";
import * as wire from "../../../src/services/wire/index.js";
import {
  FIXTURE_DIR,
  fixtureBytes,
  fixtureJson,
  fixtureObject,
  INVALID_DIR,
  jsonFiles,
  normalizeTimestamps,
  overTheWire,
} from "./fixtureKit.js";

interface Codec {
  decode(value: unknown): Decoded<unknown>;
  encode(value: never): Record<string, unknown>;
}

const codec = <T>(
  decode: (value: unknown) => Decoded<T>,
  encode: (value: T) => Record<string, unknown>,
): Codec => ({ decode, encode: encode as (value: never) => Record<string, unknown> });

const CPUS = 4;
const C = {
  command: codec(wire.decodeCommand, wire.encodeCommand),
  execResult: codec(wire.decodeExecResult, wire.encodeExecResult),
  eventStarted: codec(wire.decodeEventStarted, wire.encodeEventStarted),
  heartbeat: codec(wire.decodeHeartbeat, wire.encodeHeartbeat),
  hostPerf: codec(wire.decodeHostPerf, wire.encodeHostPerf),
  processPerf: codec(wire.decodeProcessPerf, wire.encodeProcessPerf),
  logsRequest: codec(wire.decodeLogsRequestValue, wire.encodeLogsRequest),
  configScope: codec(wire.decodeConfigScope, wire.encodeConfigScope),
  effectiveConfig: codec((v) => wire.decodeEffectiveConfig(v, CPUS), wire.encodeEffectiveConfig),
  agentGroups: codec(wire.decodeAgentGroups, wire.encodeAgentGroups),
  schedule: codec(wire.decodeSchedule, wire.encodeSchedule),
  manifest: codec(wire.decodeManifest, wire.encodeManifest),
  hwInventory: codec(wire.decodeHwInventory, wire.encodeHwInventory),
  localCompletions: codec(wire.decodeLocalCompletions, wire.encodeLocalCompletions),
  releaseState: codec(wire.decodeReleaseState, wire.encodeReleaseState),
} satisfies Record<string, Codec>;

type Obj = Record<string, unknown>;

interface ValidRow {
  codec: Codec;
  /** What re-encoding must give when it is not the input itself or the `.encoded.json` twin. */
  expected?: (input: Obj) => Obj;
}

const omit = (o: Obj, ...keys: string[]): Obj =>
  Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)));

const VALID: Record<string, ValidRow> = {
  "command-minimal.json": { codec: C.command },
  "command-full.json": { codec: C.command },
  "command-job-id-alias.json": { codec: C.command },
  "command-strict-staleness.json": { codec: C.command },
  "command-unchecked-staleness.json": { codec: C.command },
  "command-shell-sh.json": { codec: C.command },
  "command-shell-pwsh.json": { codec: C.command },
  "command-adhoc-run.json": { codec: C.command },
  "command-later-fields.json": { codec: C.command },
  "exec-result.json": { codec: C.execResult },
  "exec-result-killed.json": { codec: C.execResult },
  "exec-result-timeout.json": { codec: C.execResult },
  "exec-result-failed-to-start.json": { codec: C.execResult },
  "exec-result-outcome-unknown.json": { codec: C.execResult },
  "exec-result-rejected.json": { codec: C.execResult },
  "exec-result-signature-refused.json": { codec: C.execResult },
  "exec-result-skipped-version-pin.json": { codec: C.execResult },
  "exec-result-skipped-deadline.json": { codec: C.execResult },
  "exec-result-skipped-revoked.json": { codec: C.execResult },
  "exec-result-skipped-staleness.json": { codec: C.execResult },
  "exec-result-truncated.json": { codec: C.execResult },
  "exec-result-overflow.json": { codec: C.execResult },
  "exec-result-legacy.json": { codec: C.execResult },
  "event-started.json": { codec: C.eventStarted },
  "heartbeat.json": { codec: C.heartbeat },
  "heartbeat-v0.11.json": { codec: C.heartbeat },
  "heartbeat-ping-reply.json": { codec: C.heartbeat },
  "heartbeat-quarantine.json": { codec: C.heartbeat },
  "host-perf.json": { codec: C.hostPerf },
  "host-perf-first-tick.json": { codec: C.hostPerf },
  "process-perf.json": { codec: C.processPerf },
  "logs-request.json": { codec: C.logsRequest },
  // "defaulted": the writer always writes the member.
  "logs-request-empty.json": { codec: C.logsRequest, expected: () => ({ tail_lines: 500 }) },
  "config-scope.json": { codec: C.configScope },
  "config-scope-empty.json": { codec: C.configScope },
  "config-scope-0.40.json": { codec: C.configScope },
  // The twin predates wire.md §5.1 listing `max_local_concurrent` as a ConfigScope member
  // ([ext = later kanade], used by behavior 5.4), so it lists the member as ignored. We follow
  // wire.md: the member is read and written back; everything else in the twin holds.
  "config-scope-unknown-fields.json": {
    codec: C.configScope,
    expected: () => ({
      ...fixtureObject("config-scope-unknown-fields.encoded.json"),
      max_local_concurrent: 4,
    }),
  },
  // Internal type; `max_local_concurrent` (number of CPUs) is machine-dependent, so the
  // fixture leaves it out and the decoder fills in the given CPU count.
  "effective-config-defaults.json": {
    codec: C.effectiveConfig,
    expected: (input) => ({ ...input, max_local_concurrent: CPUS }),
  },
  "agent-groups.json": { codec: C.agentGroups },
  "agent-groups-empty.json": { codec: C.agentGroups },
  "agent-groups-unknown-fields.json": { codec: C.agentGroups },
  // Unread members dropped; defaulted `target` members written.
  "schedule-runs-on-agent.json": {
    codec: C.schedule,
    expected: (input) => ({
      ...omit(input, "auto_disable_when_done", "starting_deadline"),
      target: { all: false, pcs: [], ...(input.target as Obj) },
    }),
  },
  "job-manifest.json": {
    codec: C.manifest,
    expected: (input) => ({
      ...omit(input, "description", "require_approval"),
      execute: { ...(input.execute as Obj), run_as: "system" },
    }),
  },
  "hw-inventory-legacy.json": { codec: C.hwInventory },
  "hw-inventory-extended.json": { codec: C.hwInventory },
  "local-completions.json": { codec: C.localCompletions },
  "release-state.json": { codec: C.releaseState },
};

/** Not a payload of any shape; tested in signature.test.ts. */
const NOT_A_SHAPE = new Set(["signature-vector.json"]);

const twinOf = (file: string): string => file.replace(/\.json$/, ".encoded.json");
const hasTwin = (file: string): boolean => jsonFiles(FIXTURE_DIR).includes(twinOf(file));

describe("valid fixtures round-trip", () => {
  it("the table covers every valid fixture", () => {
    const files = jsonFiles(FIXTURE_DIR).filter(
      (f) => !f.endsWith(".encoded.json") && !NOT_A_SHAPE.has(f),
    );
    expect(Object.keys(VALID).sort()).toEqual(files);
  });

  it.each(Object.entries(VALID))("%s", (file, row) => {
    const input = fixtureObject(file);
    const decoded = row.codec.decode(input);
    if (!decoded.ok) throw new Error(`${file}: ${decoded.error.message}`);
    const encoded = overTheWire(row.codec.encode(decoded.value as never));

    let expected: unknown;
    if (row.expected) expected = row.expected(input);
    else if (hasTwin(file)) expected = fixtureJson(twinOf(file));
    else expected = input;
    expect(normalizeTimestamps(encoded)).toEqual(normalizeTimestamps(expected));

    // The agent's own output must decode with the same schema, to the same value.
    const again = row.codec.decode(encoded);
    expect(again).toEqual(decoded);
  });
});

// The field each invalid file must be refused for ("" = the value as a whole).
const INVALID: Record<string, { codec: Codec; field: string }> = {
  "command-not-json.json": { codec: C.command, field: "" },
  "command-not-object.json": { codec: C.command, field: "" },
  "command-missing-request-id.json": { codec: C.command, field: "request_id" },
  "command-request-id-with-dot.json": { codec: C.command, field: "request_id" },
  "command-missing-script.json": { codec: C.command, field: "script" },
  "command-missing-shell.json": { codec: C.command, field: "shell" },
  "command-timeout-string.json": { codec: C.command, field: "timeout_secs" },
  "command-timeout-negative.json": { codec: C.command, field: "timeout_secs" },
  "command-timeout-fraction.json": { codec: C.command, field: "timeout_secs" },
  "command-exec-id-number.json": { codec: C.command, field: "exec_id" },
  "command-exec-id-wildcard.json": { codec: C.command, field: "exec_id" },
  "command-exec-id-and-job-id.json": { codec: C.command, field: "job_id" },
  "command-unknown-shell.json": { codec: C.command, field: "shell" },
  "command-shell-uppercase.json": { codec: C.command, field: "shell" },
  "command-unknown-run-as.json": { codec: C.command, field: "run_as" },
  "command-strict-without-max-cache-age.json": {
    codec: C.command,
    field: "staleness.max_cache_age",
  },
  "command-unknown-staleness-mode.json": { codec: C.command, field: "staleness.mode" },
  "command-deadline-without-zone.json": { codec: C.command, field: "deadline_at" },
  "command-deadline-not-a-date.json": { codec: C.command, field: "deadline_at" },
  "command-script-object.json": { codec: C.command, field: "script_object" },
  "exec-result-missing-pc-id.json": { codec: C.execResult, field: "pc_id" },
  "exec-result-exit-code-string.json": { codec: C.execResult, field: "exit_code" },
  "exec-result-bad-started-at.json": { codec: C.execResult, field: "started_at" },
  "event-started-missing-exec-id.json": { codec: C.eventStarted, field: "exec_id" },
  "heartbeat-missing-at.json": { codec: C.heartbeat, field: "at" },
  "heartbeat-bad-at.json": { codec: C.heartbeat, field: "at" },
  "heartbeat-cpu-string.json": { codec: C.heartbeat, field: "agent_cpu_pct" },
  "host-perf-missing-pc-id.json": { codec: C.hostPerf, field: "pc_id" },
  "process-perf-missing-processes.json": { codec: C.processPerf, field: "processes" },
  "config-scope-wrong-type.json": { codec: C.configScope, field: "heartbeat_interval" },
  "config-scope-not-object.json": { codec: C.configScope, field: "" },
  "agent-groups-missing-groups.json": { codec: C.agentGroups, field: "groups" },
  "agent-groups-not-array.json": { codec: C.agentGroups, field: "groups" },
  "hw-inventory-missing-disks.json": { codec: C.hwInventory, field: "disks" },
  "hw-inventory-negative-cores.json": { codec: C.hwInventory, field: "cpu_cores" },
  "logs-request-wrong-type.json": { codec: C.logsRequest, field: "tail_lines" },
  "schedule-five-field-cron.json": { codec: C.schedule, field: "cron" },
};

describe("invalid fixtures are refused, naming the field", () => {
  it("the table covers every invalid fixture", () => {
    expect(Object.keys(INVALID).sort()).toEqual(jsonFiles(INVALID_DIR));
  });

  it.each(Object.entries(INVALID))("%s", (file, row) => {
    const parsed = wire.parseJson(fixtureBytes(`invalid/${file}`));
    const decoded = parsed.ok ? row.codec.decode(parsed.value) : parsed;
    expect(decoded.ok).toBe(false);
    if (decoded.ok) return;
    expect(decoded.error.field).toBe(row.field);
    if (row.field === "") expect(decoded.error.message).toMatch(/JSON/);
    else expect(decoded.error.message.startsWith(`${row.field}: `)).toBe(true);
  });
});
