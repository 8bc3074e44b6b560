// Keys, keyring files and signed publishes for the security tests.
import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type NatsConnection, headers as natsHeaders } from "@nats-io/nats-core";
import {
  type GeneratedKeyPair,
  generateKeyPair,
  keyringEntry,
  signCommandBody,
} from "../../../src/services/signing/index.js";
import { tempDir } from "../../helpers/tmp.js";

export interface TestKey extends GeneratedKeyPair {
  maxAgeSecs?: number;
}

export function testKey(maxAgeSecs?: number): TestKey {
  return { ...generateKeyPair(), ...(maxAgeSecs === undefined ? {} : { maxAgeSecs }) };
}

/** A keys file (owner-only, in an owner-only folder) that can be rewritten atomically. */
export class KeysFile {
  readonly path: string;

  constructor(keys: readonly TestKey[]) {
    this.path = join(tempDir("kanade-keys-"), "keys.json");
    this.write(keys);
  }

  write(keys: readonly TestKey[]): void {
    const text = JSON.stringify(
      keys.map((k) =>
        keyringEntry(k.kid, k.publicKeyB64, {
          label: "test",
          ...(k.maxAgeSecs === undefined ? {} : { maxAgeSecs: k.maxAgeSecs }),
        }),
      ),
    );
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, text, { mode: 0o600 });
    renameSync(tmp, this.path);
  }

  toml(opts: { require: boolean; requireEnvelope?: boolean }): string {
    const envelope = opts.requireEnvelope ? "require_envelope = true\n" : "";
    return `[signing]\nrequire = ${opts.require}\nkeys_file = ${JSON.stringify(this.path)}\n${envelope}`;
  }
}

/** Publishes `body` with the signature headers of `key` at `atMs` (default now). */
export async function publishSigned(
  nc: NatsConnection,
  subject: string,
  body: string,
  key: TestKey,
  opts: { atMs?: number; tamper?: (body: string) => string } = {},
): Promise<void> {
  const h = natsHeaders();
  for (const [k, v] of Object.entries(
    signCommandBody(body, key.seed, key.kid, opts.atMs ?? Date.now()),
  )) {
    h.set(k, v);
  }
  nc.publish(subject, opts.tamper ? opts.tamper(body) : body, { headers: h });
  await nc.flush();
}
