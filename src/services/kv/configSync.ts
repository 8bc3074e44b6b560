// The full sync of `agent_config` (behavior.md 11.2): list the keys, read every one that concerns
// this agent into a fresh mirror. Any failed read fails the whole sync, so that a half-read
// bucket never replaces a complete mirror.
import { errorText } from "../nats/retry.js";
import type { OpenBucket } from "./bucket.js";
import {
  applyConfigEntry,
  type ConfigMirror,
  classifyConfigKey,
  emptyConfigMirror,
  toConfigEntry,
} from "./configMirror.js";

export interface ConfigSnapshot {
  mirror: ConfigMirror;
  /** Keys whose value did not decode; they are absent from the mirror (behavior.md 11.3). */
  malformed: { key: string; problem: string }[];
  /** The watch that follows starts here, so nothing written since the snapshot is missed. */
  fromRevision: number;
}

export interface SyncOptions {
  signal?: AbortSignal;
  /** Upper bound for the whole sync (default 30 s); a listing can stall without an error. */
  timeoutMs?: number;
}

/** Reads at most this many keys at once. */
const PARALLEL_READS = 16;

/** One attempt; rejects with the key that could not be read. */
export async function readConfigSnapshot(
  bucket: OpenBucket,
  pcKey: string | null,
  opts: SyncOptions = {},
): Promise<ConfigSnapshot> {
  const timeout = AbortSignal.timeout(opts.timeoutMs ?? 30_000);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  const fail = () =>
    new Error(opts.signal?.aborted ? "sync cancelled" : `kv ${bucket.name}: sync took too long`);

  const wanted: string[] = [];
  const listing = await bucket.kv.keys();
  const stopListing = () => listing.stop();
  signal.addEventListener("abort", stopListing, { once: true });
  try {
    for await (const key of listing) {
      if (classifyConfigKey(key, pcKey) !== null) wanted.push(key);
    }
  } catch (err) {
    throw new Error(`kv ${bucket.name}: listing keys failed: ${errorText(err)}`, { cause: err });
  } finally {
    signal.removeEventListener("abort", stopListing);
  }
  if (signal.aborted) throw fail();

  let mirror = emptyConfigMirror();
  const malformed: ConfigSnapshot["malformed"] = [];
  for (let i = 0; i < wanted.length; i += PARALLEL_READS) {
    const batch = wanted.slice(i, i + PARALLEL_READS);
    const entries = await Promise.all(
      batch.map((key) =>
        bucket.kv.get(key).catch((err: unknown) => {
          throw new Error(`kv ${bucket.name}: reading ${key} failed: ${errorText(err)}`, {
            cause: err,
          });
        }),
      ),
    );
    if (signal.aborted) throw fail();
    for (const raw of entries) {
      // Deleted between the listing and the read: a tombstone, or nothing at all.
      if (raw === null) continue;
      const entry = toConfigEntry(raw, pcKey);
      if (entry === null) continue;
      if (entry.change.kind === "malformed")
        malformed.push({ key: entry.key, problem: entry.change.problem });
      mirror = applyConfigEntry(mirror, entry).mirror;
    }
  }
  return { mirror, malformed, fromRevision: bucket.lastRevision + 1 };
}
