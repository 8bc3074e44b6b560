// Ed25519 with raw keys (behavior.md 17.1: the keyring holds the raw 32-byte public key) on top of
// node:crypto, which only takes DER/PEM/JWK: the raw key is wrapped in a fixed DER prefix.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from "node:crypto";

export const ED25519_KEY_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;

// SubjectPublicKeyInfo { AlgorithmIdentifier { 1.3.101.112 }, BIT STRING (32 bytes) } (RFC 8410).
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");
// PrivateKeyInfo { version 0, AlgorithmIdentifier { 1.3.101.112 }, OCTET STRING { OCTET STRING (32) } }.
const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

/** A raw 32-byte Ed25519 public key as a node:crypto key. Throws on a wrong length. */
export function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== ED25519_KEY_BYTES) {
    throw new Error(`an Ed25519 public key has ${ED25519_KEY_BYTES} bytes, got ${raw.length}`);
  }
  return createPublicKey({
    key: Buffer.concat([SPKI_PREFIX, raw]),
    format: "der",
    type: "spki",
  });
}

/** The private key of a 32-byte seed (RFC 8032 secret key). */
export function privateKeyFromSeed(seed: Uint8Array): KeyObject {
  if (seed.length !== ED25519_KEY_BYTES) {
    throw new Error(`an Ed25519 seed has ${ED25519_KEY_BYTES} bytes, got ${seed.length}`);
  }
  return createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, seed]),
    format: "der",
    type: "pkcs8",
  });
}

/** The raw 32-byte public key of a key object (public or private). */
export function rawPublicKey(key: KeyObject): Uint8Array {
  const pub = key.type === "private" ? createPublicKey(key) : key;
  const der = pub.export({ format: "der", type: "spki" });
  return new Uint8Array(der.subarray(der.length - ED25519_KEY_BYTES));
}

export function ed25519Sign(data: Uint8Array, seed: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, data, privateKeyFromSeed(seed)));
}

/** False for a signature that does not verify; never throws for a well-formed key. */
export function ed25519Verify(data: Uint8Array, signature: Uint8Array, key: KeyObject): boolean {
  try {
    return verify(null, data, key, signature);
  } catch {
    return false;
  }
}

export interface GeneratedKeyPair {
  /** `kanade-<12 hex digits of SHA-256(public key)>`: stable for the key, unique in practice. */
  kid: string;
  /** Standard base64 of the raw public key: the keyring's `public_key`. */
  publicKeyB64: string;
  /** The 32-byte secret seed. Keep it private. */
  seed: Uint8Array;
}

/** A fresh key pair for `kanade keys generate`. */
export function generateKeyPair(): GeneratedKeyPair {
  const { privateKey } = generateKeyPairSync("ed25519");
  const der = privateKey.export({ format: "der", type: "pkcs8" });
  const seed = new Uint8Array(der.subarray(der.length - ED25519_KEY_BYTES));
  const raw = rawPublicKey(privateKey);
  return { kid: defaultKid(raw), publicKeyB64: Buffer.from(raw).toString("base64"), seed };
}

/** The kid `generateKeyPair` gives a public key. */
export function defaultKid(rawPublic: Uint8Array): string {
  return `kanade-${createHash("sha256").update(rawPublic).digest("hex").slice(0, 12)}`;
}
