import { describe, expect, it } from "vitest";
import {
  buildEnvelopeV2,
  CommandVerifier,
  generateKeyPair,
  type Keyring,
  keyringEntry,
  parseKeyring,
  signCommandBody,
} from "../../../src/services/signing/index.js";
import { classifyCommandMessage } from "../../../src/services/wire/commandEnvelope.js";
import type { Command } from "../../../src/services/wire/types.js";
import { captureLog } from "../../helpers/captureLog.js";
import { sampleCommand } from "../../helpers/commands.js";
import { lookup, ManualClock, utf8, vector } from "./kit.js";

const PC = "PC1";
const T0 = vector.at_ms + 5_000;
const vectorRing = () => parseKeyring(JSON.stringify(vector.keys), "keys.json");

function verifier(
  opts: {
    require?: boolean;
    requireEnvelope?: boolean;
    keyring?: Keyring;
    clock?: ManualClock;
    keysFile?: string;
    loadKeys?: (file: string) => Promise<Keyring>;
  } = {},
) {
  const captured = captureLog();
  const clock = opts.clock ?? new ManualClock(T0);
  const v = new CommandVerifier({
    pcId: PC,
    require: opts.require ?? true,
    requireEnvelope: opts.requireEnvelope,
    keyring: opts.keyring ?? vectorRing(),
    keysFile: opts.keysFile,
    loadKeys: opts.loadKeys,
    clock,
    log: captured.log,
  });
  return { v, clock, captured };
}

function input(body: string, headers: Record<string, string>) {
  const bytes = utf8(body);
  return {
    body: bytes,
    header: lookup(headers),
    message: classifyCommandMessage(bytes),
    subject: `commands.pc.${PC}`,
  };
}

const command = (requestId = "req-1"): Command => sampleCommand({ requestId });

describe("CommandVerifier outcomes (behavior.md 17.3)", () => {
  const { headers, body } = vector;
  const without = (name: string) =>
    Object.fromEntries(Object.entries(headers).filter(([k]) => k !== name));
  const cases: [string, string, Record<string, string>, string][] = [
    ["the fixture", body, headers, "valid"],
    ["no headers", body, {}, "unsigned"],
    ["a tampered body", vector.tampered_body, headers, "invalid"],
    ["a missing Kanade-Sig-At", body, without("Kanade-Sig-At"), "malformed"],
    [
      "a 63-byte signature",
      body,
      { ...headers, "Kanade-Sig": Buffer.alloc(63).toString("base64") },
      "malformed",
    ],
    ["another algorithm", body, { ...headers, "Kanade-Sig-Alg": "rsa" }, "unsupported algorithm"],
    ["an unknown kid", body, { ...headers, "Kanade-Sig-Kid": "backend-2027" }, "unknown key"],
    [
      "a time that is not the signed one",
      body,
      { ...headers, "Kanade-Sig-At": String(vector.at_ms + 1) },
      "invalid",
    ],
  ];
  it.each(cases)("%s → %s", async (_what, b, h, kind) => {
    const { v } = verifier();
    const verdict = await v.check(input(b, h));
    expect(verdict.outcome.kind).toBe(kind);
    expect(verdict.accepted).toBe(kind === "valid");
  });

  it("stale: a key with max_age_secs refuses signatures older or newer than that", async () => {
    const ring = parseKeyring(
      JSON.stringify([{ ...vector.keys[0], max_age_secs: 60 }]),
      "keys.json",
    );
    const clock = new ManualClock(vector.at_ms + 60_000);
    const { v } = verifier({ keyring: ring, clock });
    expect((await v.check(input(body, headers))).outcome.kind).toBe("valid");
    clock.wall = vector.at_ms + 60_001;
    expect((await v.check(input(body, headers))).outcome).toMatchObject({
      kind: "stale",
      skewMs: 60_001,
    });
    clock.wall = vector.at_ms - 60_001;
    expect((await v.check(input(body, headers))).outcome.kind).toBe("stale");
    // A forged signature is `invalid`, whatever its age.
    expect((await v.check(input(vector.tampered_body, headers))).outcome.kind).toBe("invalid");
  });

  it("without max_age_secs a 7-day-old signature is valid (17.7)", async () => {
    const { v } = verifier({ clock: new ManualClock(vector.at_ms + 7 * 86_400_000) });
    expect((await v.check(input(body, headers))).outcome.kind).toBe("valid");
  });

  it("observe mode accepts every outcome; enforce accepts only valid", async () => {
    const observe = verifier({ require: false }).v;
    for (const h of [{}, { ...headers, "Kanade-Sig-Kid": "zz" }]) {
      expect((await observe.check(input(body, h))).accepted).toBe(true);
    }
    expect((await observe.check(input(vector.tampered_body, headers))).accepted).toBe(true);
  });
});

describe("CommandVerifier and the v2 envelope", () => {
  const pair = generateKeyPair();
  const ring = parseKeyring(JSON.stringify([keyringEntry(pair.kid, pair.publicKeyB64)]), "k");
  const signed = (b: string, at = T0) => input(b, signCommandBody(b, pair.seed, pair.kid, at));

  it("accepts a signed envelope for this PC that has not expired", async () => {
    const { v } = verifier({ keyring: ring });
    const verdict = await v.check(signed(buildEnvelopeV2(command(), PC, T0 + 60_000)));
    expect(verdict).toEqual({ accepted: true, outcome: { kind: "valid", kid: pair.kid } });
  });

  it("refuses a signed envelope for another PC, an expired one and a broken one", async () => {
    const { v } = verifier({ keyring: ring });
    expect((await v.check(signed(buildEnvelopeV2(command(), "PC2", T0 + 1)))).outcome).toEqual({
      kind: "wrong target",
      target: "PC2",
    });
    expect((await v.check(signed(buildEnvelopeV2(command(), PC, T0)))).outcome.kind).toBe(
      "expired",
    );
    const broken = buildEnvelopeV2(command(), PC, T0 + 1).replace('"target_pc_id"', '"target"');
    expect((await v.check(signed(broken))).outcome).toMatchObject({
      kind: "malformed envelope",
      reason: "target_pc_id: is required",
    });
  });

  it("checks the signature first: a re-targeted envelope no longer verifies", async () => {
    const { v } = verifier({ keyring: ring });
    const original = buildEnvelopeV2(command(), "PC2", T0 + 60_000);
    const h = signCommandBody(original, pair.seed, pair.kid, T0);
    const retargeted = original.replace('"PC2"', `"${PC}"`);
    expect((await v.check(input(retargeted, h))).outcome.kind).toBe("invalid");
  });

  it("require_envelope refuses a validly signed legacy body", async () => {
    const { v } = verifier({ keyring: ring, requireEnvelope: true });
    const legacy = JSON.stringify({ ...JSON.parse(vector.body), request_id: "r" });
    expect((await v.check(signed(legacy))).outcome.kind).toBe("envelope required");
    expect((await v.check(signed(buildEnvelopeV2(command(), PC, T0 + 1)))).accepted).toBe(true);
  });
});

describe("CommandVerifier: keys re-read on an unknown kid (17.6)", () => {
  const fresh = generateKeyPair();
  const rotated = () =>
    parseKeyring(
      JSON.stringify([...vector.keys, keyringEntry(fresh.kid, fresh.publicKeyB64)]),
      "keys.json",
    );
  const freshInput = (at = T0) =>
    input(vector.body, signCommandBody(vector.body, fresh.seed, fresh.kid, at));

  it("re-reads the file and accepts the new kid", async () => {
    let reads = 0;
    const { v, captured } = verifier({
      keysFile: "keys.json",
      loadKeys: async () => {
        reads += 1;
        return rotated();
      },
    });
    expect((await v.check(freshInput())).outcome).toEqual({ kind: "valid", kid: fresh.kid });
    expect(reads).toBe(1);
    expect(v.keyring.kids).toEqual(["test-2026", fresh.kid]);
    expect(captured.at(30, /re-read/)).toHaveLength(1);
  });

  it("re-reads at most once per 60 s; a failed read keeps the current keys", async () => {
    let reads = 0;
    let next: () => Promise<Keyring> = async () => {
      throw new Error("EACCES");
    };
    const { v, clock, captured } = verifier({
      keysFile: "keys.json",
      loadKeys: () => {
        reads += 1;
        return next();
      },
    });
    expect((await v.check(freshInput())).outcome.kind).toBe("unknown key");
    expect(reads).toBe(1);
    expect(captured.at(40, /re-read failed/)).toHaveLength(1);
    // The fixture key still works after the failed read.
    expect((await v.check(input(vector.body, vector.headers))).accepted).toBe(true);

    next = async () => rotated();
    clock.advance(59_999);
    expect((await v.check(freshInput(clock.now()))).outcome.kind).toBe("unknown key");
    expect(reads).toBe(1);
    clock.advance(1);
    expect((await v.check(freshInput(clock.now()))).outcome.kind).toBe("valid");
    expect(reads).toBe(2);
  });

  it("has nothing to re-read without a keys file", async () => {
    const { v } = verifier({
      loadKeys: async () => {
        throw new Error("must not be called");
      },
    });
    expect((await v.check(freshInput())).outcome.kind).toBe("unknown key");
  });

  it("shares one re-read between messages that wait for it", async () => {
    let reads = 0;
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const { v } = verifier({
      keysFile: "keys.json",
      loadKeys: async () => {
        reads += 1;
        await gate;
        return rotated();
      },
    });
    const both = Promise.all([v.check(freshInput()), v.check(freshInput())]);
    release();
    const verdicts = await both;
    expect(verdicts.map((x) => x.outcome.kind)).toEqual(["valid", "valid"]);
    expect(reads).toBe(1);
  });
});

describe("CommandVerifier logging", () => {
  it("observe mode logs each failure kind once per minute, with the suppressed count", async () => {
    const { v, clock, captured } = verifier({ require: false });
    const tampered = input(vector.tampered_body, vector.headers);
    for (let i = 0; i < 5; i++) await v.check(tampered);
    await v.check(input(vector.body, { ...vector.headers, "Kanade-Sig-Kid": "other" }));
    await v.check(input(vector.body, {}));
    const warns = () => captured.at(40, /observe mode/);
    expect(warns().map((l) => l.signature)).toEqual(["invalid", "unknown key other"]);
    clock.advance(60_000);
    await v.check(tampered);
    expect(warns()).toHaveLength(3);
    expect(warns()[2]).toMatchObject({ signature: "invalid", suppressed_since_last: 4 });
  });

  it("enforce mode logs refusals (unsigned included), rate-limited the same way", async () => {
    const { v, captured } = verifier({ require: true });
    for (let i = 0; i < 3; i++) await v.check(input(vector.body, {}));
    expect(captured.at(40, /command refused/).map((l) => l.signature)).toEqual(["unsigned"]);
    expect(JSON.stringify(captured.lines)).not.toContain(vector.keys[0]?.public_key ?? "-");
  });
});
