// The signing keyring of behavior.md 17.1: a JSON array of
// {"kid", "public_key" (std base64 of the raw 32-byte Ed25519 key), "label"?, "max_age_secs"?}.
// A local file format (like the ledger record), so it is read here rather than in wire/.
import type { KeyObject } from "node:crypto";
import { open } from "node:fs/promises";
import { parseJson } from "../wire/json.js";
import { ED25519_KEY_BYTES, publicKeyFromRaw } from "./ed25519.js";

/** A keyring is a few lines per key; anything this large is the wrong file. */
export const MAX_KEYRING_BYTES = 1024 * 1024;
/** More keys than any rotation needs; bounds the map. */
export const MAX_KEYRING_KEYS = 1_000;
const MAX_KID_BYTES = 200;
const STANDARD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export interface KeyringEntry {
  kid: string;
  key: KeyObject;
  label?: string;
  /** Freshness bound of signatures made with this key (17.3 `stale`); none when absent. */
  maxAgeMs?: number;
}

/** The public keys the agent trusts, by kid. */
export class Keyring {
  readonly #byKid: ReadonlyMap<string, KeyringEntry>;

  constructor(entries: readonly KeyringEntry[]) {
    this.#byKid = new Map(entries.map((e) => [e.kid, e]));
  }

  get(kid: string): KeyringEntry | undefined {
    return this.#byKid.get(kid);
  }

  get size(): number {
    return this.#byKid.size;
  }

  get kids(): string[] {
    return [...this.#byKid.keys()];
  }
}

/** A keys file that cannot be used; the message names the file and the entry, never a key. */
export class KeyringError extends Error {
  override readonly name = "KeyringError";

  constructor(
    readonly file: string,
    readonly detail: string,
  ) {
    super(`signing keys file ${file}: ${detail}`);
  }
}

/** Parses the keys file content. Throws KeyringError naming the first problem. */
export function parseKeyring(content: string | Uint8Array, file: string): Keyring {
  const parsed = parseJson(content);
  if (!parsed.ok) throw new KeyringError(file, parsed.error.message);
  const value = parsed.value;
  if (!Array.isArray(value)) {
    throw new KeyringError(file, 'expected a JSON array of {"kid", "public_key"} objects');
  }
  if (value.length > MAX_KEYRING_KEYS) {
    throw new KeyringError(file, `holds ${value.length} keys, at most ${MAX_KEYRING_KEYS}`);
  }
  const entries: KeyringEntry[] = [];
  const seen = new Set<string>();
  value.forEach((item: unknown, i) => {
    const entry = parseEntry(item, (problem) => new KeyringError(file, `entry [${i}]: ${problem}`));
    if (seen.has(entry.kid)) {
      throw new KeyringError(file, `entry [${i}]: kid ${JSON.stringify(entry.kid)} is repeated`);
    }
    seen.add(entry.kid);
    entries.push(entry);
  });
  return new Keyring(entries);
}

function parseEntry(item: unknown, fail: (problem: string) => KeyringError): KeyringEntry {
  if (typeof item !== "object" || item === null || Array.isArray(item)) {
    throw fail("expected a JSON object");
  }
  const o = item as Record<string, unknown>;
  const kid = o.kid;
  if (typeof kid !== "string" || kid === "") throw fail("kid: expected a non-empty string");
  if (Buffer.byteLength(kid) > MAX_KID_BYTES) throw fail(`kid: longer than ${MAX_KID_BYTES} bytes`);
  const named = (problem: string) => fail(`kid ${JSON.stringify(kid)}: ${problem}`);
  const b64 = o.public_key;
  if (typeof b64 !== "string" || !STANDARD_BASE64.test(b64) || b64 === "") {
    throw named("public_key: expected standard base64 (with = padding) of the raw Ed25519 key");
  }
  const raw = Buffer.from(b64, "base64");
  if (raw.length !== ED25519_KEY_BYTES) {
    throw named(`public_key: holds ${raw.length} bytes, expected ${ED25519_KEY_BYTES}`);
  }
  const entry: KeyringEntry = { kid, key: publicKeyFromRaw(raw) };
  if (o.label !== undefined && o.label !== null) {
    if (typeof o.label !== "string") throw named("label: expected a string");
    entry.label = o.label;
  }
  const maxAge = o.max_age_secs;
  if (maxAge !== undefined && maxAge !== null) {
    if (typeof maxAge !== "number" || !Number.isSafeInteger(maxAge) || maxAge < 1) {
      throw named("max_age_secs: expected an integer ≥ 1");
    }
    entry.maxAgeMs = maxAge * 1000;
  }
  return entry;
}

/** Reads and parses the keys file (bounded). Throws KeyringError. */
export async function loadKeyring(file: string): Promise<Keyring> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, "r");
  } catch (err) {
    throw new KeyringError(file, `cannot read: ${(err as Error).message}`);
  }
  try {
    const buffer = Buffer.alloc(MAX_KEYRING_BYTES + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > MAX_KEYRING_BYTES) {
      throw new KeyringError(file, `larger than ${MAX_KEYRING_BYTES} bytes`);
    }
    return parseKeyring(new Uint8Array(buffer.subarray(0, length)), file);
  } catch (err) {
    if (err instanceof KeyringError) throw err;
    throw new KeyringError(file, `cannot read: ${(err as Error).message}`);
  } finally {
    await handle.close();
  }
}
