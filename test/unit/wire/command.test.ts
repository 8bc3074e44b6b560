import { describe, expect, it } from "vitest";
import {
  type CommandIntake,
  classifyCommandBody,
  decodeCommand,
  decodeExecResult,
  decodeHwInventory,
  encodeCommand,
  encodeExecResult,
  parseJson,
} from "../../../src/services/wire/index.js";
import { fixtureBytes, fixtureObject } from "./fixtureKit.js";

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const REQUEST_ID = "a5e16e06-b375-4f61-bb67-9ba52951bed8";
const EXEC_ID = "8a72019b-8c6c-42aa-843d-561239c5fe14";
const minimal = () => fixtureObject("command-minimal.json");

describe("decodeCommand", () => {
  it("applies the defaults of wire §4.1 to a minimal command", () => {
    const decoded = decodeCommand(minimal());
    expect(decoded).toEqual({
      ok: true,
      value: {
        id: "echo-test",
        version: "1.0.0",
        requestId: REQUEST_ID,
        execId: null,
        shell: "cmd",
        script: "echo hello",
        timeoutSecs: 30,
        jitterSecs: null,
        runAs: "system",
        staleness: { mode: "cached" },
      },
    });
  });

  it("reads job_id as exec_id and converts an offset deadline to UTC", () => {
    const alias = decodeCommand(fixtureObject("command-job-id-alias.json"));
    expect(alias.ok && alias.value.execId).toBe("c269379b-1b11-4e85-bbcc-9ac8a9c7a0b3");
    const full = decodeCommand(fixtureObject("command-full.json"));
    expect(full.ok && full.value.deadlineAt).toBe(Date.UTC(2026, 4, 18, 9, 30));
  });

  it("names job_id when the alias itself breaks the token rule", () => {
    const decoded = decodeCommand({ ...minimal(), job_id: "a.b" });
    expect(decoded.ok ? null : decoded.error.field).toBe("job_id");
  });

  it("keeps strict staleness's duration raw (an unparseable one is a run-time matter)", () => {
    const decoded = decodeCommand({
      ...minimal(),
      staleness: { mode: "strict", max_cache_age: "soon" },
    });
    expect(decoded.ok && decoded.value.staleness).toEqual({ mode: "strict", maxCacheAge: "soon" });
  });

  it("accepts integers up to 2^53−1 and refuses larger ones", () => {
    const max = decodeCommand({ ...minimal(), timeout_secs: 9_007_199_254_740_991 });
    expect(max.ok && max.value.timeoutSecs).toBe(9_007_199_254_740_991);

    // 2^53 + 1 in the text parses to 2^53, which is no longer exact.
    const body = JSON.stringify(minimal()).replace(
      '"timeout_secs":30',
      '"timeout_secs":9007199254740993',
    );
    const parsed = parseJson(body);
    const big = parsed.ok ? decodeCommand(parsed.value) : parsed;
    expect(big.ok).toBe(false);
    expect(big.ok ? "" : big.error.message).toMatch(/^timeout_secs: .*2\^53−1/);

    const inventory = fixtureObject("hw-inventory-legacy.json");
    const huge = decodeHwInventory({ ...inventory, ram_bytes: 2 ** 64 });
    expect(huge.ok ? null : huge.error.field).toBe("ram_bytes");
  });

  it('refuses an exec_id of "" (not a token) but treats null and absence as none', () => {
    expect(decodeCommand({ ...minimal(), exec_id: "" }).ok).toBe(false);
    const nullId = decodeCommand({ ...minimal(), exec_id: null });
    expect(nullId.ok && nullId.value.execId).toBeNull();
  });

  it("ignores a later kanade script_object that is empty or null", () => {
    expect(decodeCommand({ ...minimal(), script_object: "" }).ok).toBe(true);
    expect(decodeCommand({ ...minimal(), script_object: null }).ok).toBe(true);
  });
});

describe("encodeCommand", () => {
  it("writes exec_id/jitter_secs as null, run_as and staleness always, cwd/deadline_at never when unset", () => {
    const decoded = decodeCommand(minimal());
    if (!decoded.ok) throw new Error(decoded.error.message);
    const encoded = encodeCommand(decoded.value);
    expect(encoded).toEqual(fixtureObject("command-minimal.encoded.json"));
    expect(Object.keys(encoded)).not.toContain("cwd");
    expect(Object.keys(encoded)).not.toContain("deadline_at");
    expect(Object.keys(encoded)).not.toContain("job_id");
  });

  it("writes deadline_at in UTC with three fraction digits", () => {
    const decoded = decodeCommand(fixtureObject("command-full.json"));
    if (!decoded.ok) throw new Error(decoded.error.message);
    expect(encodeCommand(decoded.value).deadline_at).toBe("2026-05-18T09:30:00.000Z");
  });
});

describe("classifyCommandBody (behavior §5.2 step 3, §19)", () => {
  const INVALID: Record<string, RegExp> = {
    "command-not-json.json": /JSON/,
    "command-not-object.json": /object/,
    "command-missing-request-id.json": /^request_id: is required/,
    "command-request-id-with-dot.json": /^request_id: .*token/,
  };
  const REJECTED: Record<string, { field: string; execId: string | null }> = {
    "command-missing-script.json": { field: "script", execId: null },
    "command-missing-shell.json": { field: "shell", execId: null },
    "command-timeout-string.json": { field: "timeout_secs", execId: null },
    "command-timeout-negative.json": { field: "timeout_secs", execId: null },
    "command-timeout-fraction.json": { field: "timeout_secs", execId: null },
    "command-exec-id-number.json": { field: "exec_id", execId: null },
    "command-exec-id-wildcard.json": { field: "exec_id", execId: null },
    "command-exec-id-and-job-id.json": { field: "job_id", execId: EXEC_ID },
    "command-unknown-shell.json": { field: "shell", execId: null },
    "command-shell-uppercase.json": { field: "shell", execId: null },
    "command-unknown-run-as.json": { field: "run_as", execId: null },
    "command-strict-without-max-cache-age.json": { field: "staleness.max_cache_age", execId: null },
    "command-unknown-staleness-mode.json": { field: "staleness.mode", execId: null },
    "command-deadline-without-zone.json": { field: "deadline_at", execId: null },
    "command-deadline-not-a-date.json": { field: "deadline_at", execId: null },
    "command-script-object.json": { field: "script_object", execId: null },
  };

  it.each(Object.entries(INVALID))("%s is invalid (dropped, no result)", (file, reason) => {
    const intake = classifyCommandBody(fixtureBytes(`invalid/${file}`));
    expect(intake.kind).toBe("invalid");
    expect(intake.kind === "invalid" && intake.reason).toMatch(reason);
  });

  it.each(Object.entries(REJECTED))("%s is rejected (exit 122)", (file, want) => {
    const intake = classifyCommandBody(fixtureBytes(`invalid/${file}`));
    expect(intake).toEqual<CommandIntake>({
      kind: "rejected",
      requestId: REQUEST_ID,
      execId: want.execId,
      manifestId: "echo-test",
      version: "1.0.0",
      reason: expect.stringMatching(new RegExp(`^${want.field.replace(".", "\\.")}: `)),
    });
  });

  it("carries a valid exec_id into the rejection", () => {
    const body = { ...minimal(), exec_id: EXEC_ID, shell: "bash" };
    const intake = classifyCommandBody(new TextEncoder().encode(JSON.stringify(body)));
    expect(intake.kind === "rejected" && intake.execId).toBe(EXEC_ID);
  });

  it("leaves out manifestId and version when they are not strings", () => {
    const body = { ...minimal(), id: 7, version: null };
    const intake = classifyCommandBody(utf8(JSON.stringify(body)));
    expect(intake.kind).toBe("rejected");
    expect(intake).not.toHaveProperty("manifestId");
    expect(intake).not.toHaveProperty("version");
  });

  it("accepts every valid command fixture", () => {
    for (const file of ["command-minimal.json", "command-full.json", "command-job-id-alias.json"]) {
      expect(classifyCommandBody(fixtureBytes(file)).kind).toBe("ok");
    }
  });

  it("treats a body with a byte order mark or broken UTF-8 as invalid", () => {
    const json = JSON.stringify(minimal());
    const bom = new Uint8Array([0xef, 0xbb, 0xbf, ...utf8(json)]);
    expect(classifyCommandBody(bom).kind).toBe("invalid");
    const broken = new Uint8Array([...utf8(json.slice(0, -1)), 0xff, 0x7d]);
    expect(classifyCommandBody(broken).kind).toBe("invalid");
  });
});

describe("ExecResult omissions (wire §4.3)", () => {
  const base = fixtureObject("exec-result.json");

  it("leaves out empty optional members and a false skipped", () => {
    const decoded = decodeExecResult({
      ...base,
      exec_id: "",
      manifest_id: null,
      stdout_object: "",
      skipped: false,
    });
    if (!decoded.ok) throw new Error(decoded.error.message);
    const encoded = encodeExecResult(decoded.value);
    for (const key of ["exec_id", "manifest_id", "stdout_object", "stderr_object", "skipped"]) {
      expect(encoded).not.toHaveProperty(key);
    }
  });

  it('decodes a missing result_id as "" and writes it back', () => {
    const { result_id: _dropped, ...legacy } = base;
    const decoded = decodeExecResult(legacy);
    expect(decoded.ok && decoded.value.resultId).toBe("");
    if (decoded.ok) expect(encodeExecResult(decoded.value).result_id).toBe("");
  });
});
