// The signing side, for the operator CLI (`kanade keys generate`, `kanade run --key`) and tests:
// headers of wire §3.2 over the exact body bytes, and the v2 envelope body.
import { encodeCommandEnvelope } from "../wire/commandEnvelope.js";
import {
  SIG_ALG_HEADER,
  SIG_AT_HEADER,
  SIG_HEADER,
  SIG_KID_HEADER,
  signedBytes,
} from "../wire/signatureHeaders.js";
import type { Command } from "../wire/types.js";
import { ED25519_KEY_BYTES, ed25519Sign } from "./ed25519.js";

/**
 * The four signature headers for `body` (the bytes that will be published, unchanged), signed at
 * `atMs` with the 32-byte `seed`. Put each into the message's headers.
 */
export function signCommandBody(
  body: Uint8Array | string,
  seed: Uint8Array,
  kid: string,
  atMs: number,
): Record<string, string> {
  if (kid === "") throw new Error("signCommandBody: the kid must not be empty");
  if (!Number.isSafeInteger(atMs)) throw new Error(`signCommandBody: ${atMs} is not a time in ms`);
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  const sig = ed25519Sign(signedBytes(atMs, bytes), seed);
  return {
    [SIG_HEADER]: Buffer.from(sig).toString("base64"),
    [SIG_KID_HEADER]: kid,
    [SIG_ALG_HEADER]: "ed25519",
    [SIG_AT_HEADER]: String(atMs),
  };
}

/**
 * The v2 envelope body (wire/commandEnvelope.ts) for `command`, bound to one PC and valid until
 * `expiresAt` (epoch ms). Sign the returned text as it is; re-encoding it breaks the signature.
 */
export function buildEnvelopeV2(command: Command, targetPcId: string, expiresAt: number): string {
  return encodeCommandEnvelope(command, { targetPcId, expiresAt });
}

/** The private key file `kanade keys generate` writes: `{"kid", "seed"}` (seed std base64). */
export function formatPrivateKeyFile(kid: string, seed: Uint8Array): string {
  return `${JSON.stringify({ kid, seed: Buffer.from(seed).toString("base64") }, null, 2)}\n`;
}

/** Reads a private key file; throws naming the problem (never the seed). */
export function parsePrivateKeyFile(text: string): { kid: string; seed: Uint8Array } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error('a private key file is JSON: {"kid": "...", "seed": "<base64>"}');
  }
  const o = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
  if (typeof o.kid !== "string" || o.kid === "") throw new Error("private key file: kid missing");
  const seed = typeof o.seed === "string" ? Buffer.from(o.seed, "base64") : Buffer.alloc(0);
  if (seed.length !== ED25519_KEY_BYTES) {
    throw new Error(`private key file: seed must be ${ED25519_KEY_BYTES} bytes of base64`);
  }
  return { kid: o.kid, seed: new Uint8Array(seed) };
}

/** One keyring entry (behavior.md 17.1) for a public key. */
export function keyringEntry(
  kid: string,
  publicKeyB64: string,
  opts: { label?: string; maxAgeSecs?: number } = {},
): Record<string, unknown> {
  return {
    kid,
    public_key: publicKeyB64,
    ...(opts.label === undefined ? {} : { label: opts.label }),
    ...(opts.maxAgeSecs === undefined ? {} : { max_age_secs: opts.maxAgeSecs }),
  };
}
