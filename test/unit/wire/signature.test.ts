import { createPublicKey, verify } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  classifyCommandBody,
  parseSignatureHeaders,
  signedBytes,
} from "../../../src/services/wire/index.js";
import { fixtureObject } from "./fixtureKit.js";

interface Vector {
  keys: { kid: string; public_key: string }[];
  at_ms: number;
  signed_prefix_hex: string;
  headers: Record<string, string>;
  body: string;
  tampered_body: string;
}

const vector = fixtureObject("signature-vector.json") as unknown as Vector;
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");
const headers =
  (h: Record<string, string>) =>
  (name: string): string | undefined =>
    h[name];

function publicKey(kid: string) {
  const entry = vector.keys.find((k) => k.kid === kid);
  if (!entry) throw new Error(`no key ${kid}`);
  const x = Buffer.from(entry.public_key, "base64").toString("base64url");
  return createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x }, format: "jwk" });
}

function verifies(body: string): boolean {
  const parsed = parseSignatureHeaders(headers(vector.headers));
  if (parsed.kind !== "signed") throw new Error(`headers parsed as ${parsed.kind}`);
  const data = signedBytes(parsed.atMs, utf8(body));
  return verify(null, data, publicKey(parsed.kid), parsed.sig);
}

describe("signature vector (wire §3.2)", () => {
  it("parses the four headers", () => {
    const parsed = parseSignatureHeaders(headers(vector.headers));
    expect(parsed).toMatchObject({
      kind: "signed",
      kid: "test-2026",
      alg: "ed25519",
      atMs: vector.at_ms,
    });
    expect(parsed.kind === "signed" && parsed.sig.length).toBe(64);
  });

  it("prefixes the body with be64(at_ms)", () => {
    const body = utf8(vector.body);
    const signed = signedBytes(vector.at_ms, body);
    expect(hex(signed.subarray(0, 8))).toBe(vector.signed_prefix_hex);
    expect(hex(signed.subarray(0, 8))).toBe("0000019e2e152c00");
    expect(signed.subarray(8)).toEqual(body);
    expect(hex(signedBytes(-1, new Uint8Array()))).toBe("ffffffffffffffff");
  });

  it("verifies the body and not the tampered body", () => {
    expect(verifies(vector.body)).toBe(true);
    expect(verifies(vector.tampered_body)).toBe(false);
  });

  it("signs a body that decodes as a valid Command", () => {
    expect(classifyCommandBody(utf8(vector.body)).kind).toBe("ok");
  });
});

describe("parseSignatureHeaders", () => {
  const full = vector.headers;
  const without = (name: string): Record<string, string> =>
    Object.fromEntries(Object.entries(full).filter(([k]) => k !== name));

  it("is unsigned when none of the four headers is present", () => {
    expect(parseSignatureHeaders(() => undefined)).toEqual({ kind: "unsigned" });
  });

  it("defaults a missing algorithm to ed25519 and passes any other through", () => {
    const absent = parseSignatureHeaders(headers(without("Kanade-Sig-Alg")));
    expect(absent.kind === "signed" && absent.alg).toBe("ed25519");
    const other = parseSignatureHeaders(headers({ ...full, "Kanade-Sig-Alg": "rsa" }));
    expect(other.kind === "signed" && other.alg).toBe("rsa");
  });

  it.each([
    ["a partial set (no signature)", without("Kanade-Sig")],
    ["a partial set (no kid)", without("Kanade-Sig-Kid")],
    ["a partial set (no time)", without("Kanade-Sig-At")],
    ["only the algorithm", { "Kanade-Sig-Alg": "ed25519" }],
    ["bad base64", { ...full, "Kanade-Sig": "not base64!" }],
    ["unpadded base64", { ...full, "Kanade-Sig": full["Kanade-Sig"]!.replace(/=+$/, "") }],
    ["a 63-byte signature", { ...full, "Kanade-Sig": Buffer.alloc(63).toString("base64") }],
    ["a fractional time", { ...full, "Kanade-Sig-At": "1778889600000.5" }],
    ["a time in seconds with a unit", { ...full, "Kanade-Sig-At": "1778889600s" }],
    ["a time beyond 2^53−1", { ...full, "Kanade-Sig-At": "99999999999999999999" }],
    ["an empty kid", { ...full, "Kanade-Sig-Kid": "" }],
  ])("is malformed with %s", (_what, h) => {
    expect(parseSignatureHeaders(headers(h)).kind).toBe("malformed");
  });
});
