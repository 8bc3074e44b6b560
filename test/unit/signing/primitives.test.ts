import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { privateKeyFromSeed } from "../../../src/services/signing/ed25519.js";
import {
  buildEnvelopeV2,
  formatPrivateKeyFile,
  generateKeyPair,
  KeyringError,
  keyringEntry,
  parseKeyring,
  parsePrivateKeyFile,
  rawPublicKey,
  refusalNote,
  refusalResultId,
  signCommandBody,
  uuidV5,
} from "../../../src/services/signing/index.js";
import { classifyCommandMessage } from "../../../src/services/wire/commandEnvelope.js";
import { parseSignatureHeaders } from "../../../src/services/wire/signatureHeaders.js";
import type { Command } from "../../../src/services/wire/types.js";
import { FIXTURE_DIR, utf8, vector, vectorSeed } from "./kit.js";

describe("signing the fixture vector (wire §3.2)", () => {
  it("derives the vector's public key from its seed", () => {
    const raw = rawPublicKey(privateKeyFromSeed(vectorSeed));
    expect(Buffer.from(raw).toString("base64")).toBe(vector.keys[0]?.public_key);
  });

  it("reproduces the vector's headers byte for byte (Ed25519 is deterministic)", () => {
    const headers = signCommandBody(vector.body, vectorSeed, "test-2026", vector.at_ms);
    expect(headers).toEqual(vector.headers);
  });

  it("produces headers that parse as a signed message", () => {
    const pair = generateKeyPair();
    const h = signCommandBody(utf8("{}"), pair.seed, pair.kid, 1_778_889_600_123);
    expect(parseSignatureHeaders((n) => h[n])).toMatchObject({
      kind: "signed",
      kid: pair.kid,
      alg: "ed25519",
      atMs: 1_778_889_600_123,
    });
  });
});

describe("generateKeyPair", () => {
  it("gives a 32-byte seed, its public key in std base64 and a kid derived from it", () => {
    const a = generateKeyPair();
    const b = generateKeyPair();
    expect(a.seed).toHaveLength(32);
    expect(Buffer.from(a.publicKeyB64, "base64")).toHaveLength(32);
    expect(Buffer.from(rawPublicKey(privateKeyFromSeed(a.seed))).toString("base64")).toBe(
      a.publicKeyB64,
    );
    expect(a.kid).toMatch(/^kanade-[0-9a-f]{12}$/);
    expect(a.kid).not.toBe(b.kid);
  });

  it("round-trips a private key file and produces a loadable keyring entry", () => {
    const pair = generateKeyPair();
    const file = formatPrivateKeyFile(pair.kid, pair.seed);
    expect(parsePrivateKeyFile(file)).toEqual({ kid: pair.kid, seed: pair.seed });
    expect(() => parsePrivateKeyFile('{"kid":"x","seed":"AAAA"}')).toThrow(/32 bytes/);
    const ring = parseKeyring(
      JSON.stringify([keyringEntry(pair.kid, pair.publicKeyB64, { label: "ops", maxAgeSecs: 60 })]),
      "keys.json",
    );
    expect(ring.get(pair.kid)).toMatchObject({ kid: pair.kid, label: "ops", maxAgeMs: 60_000 });
  });
});

describe("parseKeyring (behavior.md 17.1)", () => {
  const key = vector.keys[0]?.public_key ?? "";
  const bad: [string, RegExp][] = [
    ["not json", /not valid JSON/],
    ['{"kid":"a"}', /JSON array/],
    ["[1]", /entry \[0\]: expected a JSON object/],
    [`[{"public_key":"${key}"}]`, /entry \[0\]: kid: expected a non-empty string/],
    ['[{"kid":"a","public_key":"AAAA"}]', /holds 3 bytes, expected 32/],
    ['[{"kid":"a","public_key":"not base64!"}]', /standard base64/],
    [`[{"kid":"a","public_key":"${key.replace(/=$/, "")}"}]`, /standard base64/],
    [`[{"kid":"a","public_key":"${key}","max_age_secs":1.5}]`, /max_age_secs: expected an integer/],
    [`[{"kid":"a","public_key":"${key}","max_age_secs":0}]`, /max_age_secs/],
    [`[{"kid":"a","public_key":"${key}","label":3}]`, /label: expected a string/],
    [
      `[{"kid":"a","public_key":"${key}"},{"kid":"a","public_key":"${key}"}]`,
      /entry \[1\]: kid "a" is repeated/,
    ],
  ];
  it.each(bad)("refuses %s", (text, problem) => {
    let err: unknown;
    try {
      parseKeyring(text, "/etc/kanade/keys.json");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KeyringError);
    expect(String((err as Error).message)).toMatch(/^signing keys file \/etc\/kanade\/keys.json: /);
    expect(String((err as Error).message)).toMatch(problem);
  });

  it("accepts the fixture's keyring, an empty array, and ignores unknown members", () => {
    expect(parseKeyring(JSON.stringify(vector.keys), "k").kids).toEqual(["test-2026"]);
    expect(parseKeyring("[]", "k").size).toBe(0);
    const ring = parseKeyring(`[{"kid":"a","public_key":"${key}","extra":{"x":1}}]`, "k");
    expect(ring.get("a")?.maxAgeMs).toBeUndefined();
  });
});

describe("refusal result_id (wire §4.4)", () => {
  it("is UUID v5 in the OID namespace, as in the exec-result-signature-refused fixture", () => {
    const fixture = JSON.parse(
      readFileSync(`${FIXTURE_DIR}exec-result-signature-refused.json`, "utf8"),
    ) as Record<string, string>;
    expect(refusalResultId(fixture.request_id ?? "", fixture.pc_id ?? "")).toBe(fixture.result_id);
  });

  it("matches the RFC 4122 v5 construction (known DNS-namespace value)", () => {
    expect(uuidV5("www.example.com", "6ba7b810-9dad-11d1-80b4-00c04fd430c8")).toBe(
      "2ed6657d-e927-568b-95e1-2665a8aea6a2",
    );
  });

  it("words the stderr as the fixture does", () => {
    expect(refusalNote({ kind: "unknown key", kid: "backend-2027" })).toBe(
      "refused: command signature unknown key backend-2027",
    );
    expect(refusalNote({ kind: "invalid", kid: "k" })).toBe("refused: command signature invalid");
    expect(refusalNote({ kind: "wrong target", target: "PC9" })).toBe(
      "refused: command signature wrong target PC9",
    );
  });
});

describe("the v2 envelope (wire/commandEnvelope.ts)", () => {
  const command: Command = {
    id: "m",
    version: "1",
    requestId: "req-1",
    execId: "exec-1",
    shell: "sh",
    script: "echo hi",
    timeoutSecs: 30,
    jitterSecs: null,
    runAs: "system",
    staleness: { mode: "cached" },
  };

  it("builds a body that classifies as an envelope holding the command", () => {
    const body = buildEnvelopeV2(command, "PC1", Date.UTC(2026, 4, 16));
    expect(JSON.parse(body)).toMatchObject({
      kind: "kanade.command.v2",
      target_pc_id: "PC1",
      expires_at: "2026-05-16T00:00:00.000Z",
      command: { request_id: "req-1", script: "echo hi" },
    });
    expect(classifyCommandMessage(utf8(body))).toEqual({
      form: "envelope",
      envelope: { ok: true, value: { targetPcId: "PC1", expiresAt: Date.UTC(2026, 4, 16) } },
      intake: { kind: "ok", command },
    });
  });

  it("leaves legacy bodies (and other kinds) to the Command decoder", () => {
    const legacy = classifyCommandMessage(utf8(vector.body));
    expect(legacy.form).toBe("legacy");
    expect(legacy.intake.kind).toBe("ok");
    expect(classifyCommandMessage(utf8('{"kind":"kanade.command.v3"}'))).toMatchObject({
      form: "legacy",
      intake: { kind: "invalid" },
    });
    expect(classifyCommandMessage(utf8("nope")).intake.kind).toBe("invalid");
  });

  it("turns a broken envelope around a good command into a rejection naming the member", () => {
    const body = JSON.parse(buildEnvelopeV2(command, "PC1", 0)) as Record<string, unknown>;
    body.expires_at = "tomorrow";
    const m = classifyCommandMessage(utf8(JSON.stringify(body)));
    expect(m).toMatchObject({
      form: "envelope",
      envelope: { ok: false },
      intake: { kind: "rejected", requestId: "req-1", execId: "exec-1", manifestId: "m" },
    });
    expect(m.intake.kind === "rejected" && m.intake.reason).toMatch(/^envelope expires_at: /);
  });

  it("has no request_id to answer on without a command object", () => {
    const m = classifyCommandMessage(
      utf8('{"kind":"kanade.command.v2","target_pc_id":"PC1","expires_at":"2026-05-16T00:00:00Z"}'),
    );
    expect(m.intake).toEqual({ kind: "invalid", reason: "command: is required" });
  });
});
