// KV access for the operator verbs: opening a bucket with a helpful error, and the
// read-modify-write that keeps a concurrent writer's change (compare-and-set on the revision).

import { type KV, type KvEntry, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { doing, failed, oneLine } from "./errors.js";

const MAX_CAS_ATTEMPTS = 5;

export async function openKv(nc: NatsConnection, bucket: string): Promise<KV> {
  try {
    const kv = await new Kvm(nc).open(bucket);
    // open() is lazy; the status read is what fails on a missing bucket.
    await kv.status();
    return kv;
  } catch (err) {
    throw failed(
      `KV bucket ${bucket} is not available (${oneLine(err)}); run \`kanade jetstream setup\``,
      err,
    );
  }
}

export type Edit = { write: Uint8Array | string } | { unchanged: true };

/**
 * Reads `key`, asks `edit` for the new value and writes it only if nobody wrote the key in
 * between; on a conflict it starts again from the fresh value (a few times, then gives up).
 * Returns whether something was written.
 */
export async function readModifyWrite(
  kv: KV,
  bucket: string,
  key: string,
  edit: (live: KvEntry | null) => Edit,
): Promise<boolean> {
  const where = `${bucket}.${key}`;
  for (let attempt = 1; attempt <= MAX_CAS_ATTEMPTS; attempt++) {
    const entry = await doing(`read ${where}`, () => kv.get(key));
    const decision = edit(entry !== null && entry.operation === "PUT" ? entry : null);
    if ("unchanged" in decision) return false;
    try {
      if (entry === null) await kv.create(key, decision.write);
      else await kv.update(key, decision.write, entry.revision);
      return true;
    } catch (err) {
      if (!isRevisionConflict(err)) throw failed(`write ${where}: ${oneLine(err)}`, err);
    }
  }
  throw failed(`write ${where}: the key kept changing underneath (${MAX_CAS_ATTEMPTS} attempts)`);
}

/** JetStream's "wrong last sequence" (10071), or `create` finding the key already there. */
function isRevisionConflict(err: unknown): boolean {
  const text = `${oneLine(err)} ${err instanceof Error && err.cause ? oneLine(err.cause) : ""}`;
  return /wrong last sequence|key exists|10071/i.test(text);
}
