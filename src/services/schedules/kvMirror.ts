// Reading and following KV `schedules` and `jobs` (behavior.md 16.1): a key walk into fresh
// maps, then a watch of every key from the revision after the walk, so nothing written in
// between is missed and nothing the walk saw is applied twice.
import type { NatsConnection } from "@nats-io/nats-core";
import { type OpenBucket, openExistingBucket } from "../kv/bucket.js";
import { watchKv } from "../kv/watch.js";
import type { Logger } from "../logging/logger.js";
import { errorText } from "../nats/retry.js";
import { KV_JOBS, KV_SCHEDULES } from "../nats/subjects.js";
import {
  applyMirrorChange,
  changeFromKv,
  emptyMirror,
  MAX_MIRROR_ENTRIES,
  type MirrorChange,
  type ScheduleMirror,
} from "./mirror.js";

type BucketKind = MirrorChange["bucket"];

/** Where the watch resumes: the buckets as opened for the walk. Opaque to the chart. */
export interface MirrorResume {
  schedules: OpenBucket;
  jobs: OpenBucket;
}

export interface SyncedMirror {
  mirror: ScheduleMirror;
  resume: MirrorResume;
}

export interface ReadMirrorOptions {
  signal?: AbortSignal;
  /** Upper bound for the whole walk (default 30 s): a listing can stall without an error. */
  timeoutMs?: number;
  maxEntries?: number;
}

const PARALLEL_READS = 16;

/** One attempt (the caller retries, behavior.md §3); rejects naming the bucket and key. */
export async function readMirror(
  nc: NatsConnection,
  log: Logger,
  opts: ReadMirrorOptions = {},
): Promise<SyncedMirror> {
  const timeout = AbortSignal.timeout(opts.timeoutMs ?? 30_000);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  const max = opts.maxEntries ?? MAX_MIRROR_ENTRIES;
  const [schedules, jobs] = await Promise.all([
    openExistingBucket(nc, KV_SCHEDULES),
    openExistingBucket(nc, KV_JOBS),
  ]);
  let mirror = emptyMirror();
  for (const [kind, bucket] of [
    ["schedules", schedules],
    ["jobs", jobs],
  ] as const) {
    for (const change of await walk(kind, bucket, log, signal, max)) {
      mirror = applyMirrorChange(mirror, change, max).mirror;
    }
  }
  return { mirror, resume: { schedules, jobs } };
}

async function walk(
  kind: BucketKind,
  bucket: OpenBucket,
  log: Logger,
  signal: AbortSignal,
  max: number,
): Promise<MirrorChange[]> {
  const aborted = () =>
    new Error(
      `kv ${bucket.name}: ${signal.reason instanceof Error ? signal.reason.message : "walk cancelled"}`,
    );
  const keys: string[] = [];
  const listing = await bucket.kv.keys();
  const stopListing = () => listing.stop();
  signal.addEventListener("abort", stopListing, { once: true });
  try {
    for await (const key of listing) {
      if (keys.length >= max) {
        log.warn(
          { bucket: bucket.name, max },
          `kv ${bucket.name}: more than ${max} keys, the rest ignored`,
        );
        listing.stop();
        break;
      }
      keys.push(key);
    }
  } catch (err) {
    throw new Error(`kv ${bucket.name}: listing keys failed: ${errorText(err)}`, { cause: err });
  } finally {
    signal.removeEventListener("abort", stopListing);
  }
  if (signal.aborted) throw aborted();

  const changes: MirrorChange[] = [];
  for (let i = 0; i < keys.length; i += PARALLEL_READS) {
    const batch = keys.slice(i, i + PARALLEL_READS);
    const entries = await Promise.all(
      batch.map((key) =>
        bucket.kv.get(key).catch((err: unknown) => {
          throw new Error(`kv ${bucket.name}: reading ${key} failed: ${errorText(err)}`, {
            cause: err,
          });
        }),
      ),
    );
    if (signal.aborted) throw aborted();
    for (const entry of entries) {
      // Deleted between the listing and the read.
      if (entry === null || entry.operation !== "PUT") continue;
      changes.push(changeFromKv(kind, entry.key, entry.value, log));
    }
  }
  return changes;
}

/**
 * Follows both buckets from where `readMirror` left them. `onEnd` is called once, with the
 * reason, when either watch ends on its own; never after `stop()`.
 */
export function watchMirror(
  resume: MirrorResume,
  log: Logger,
  onChange: (change: MirrorChange) => void,
  onEnd: (reason: string) => void,
): () => void {
  let over = false;
  const watches = (["schedules", "jobs"] as const).map((kind) => {
    const bucket = resume[kind];
    const watch = watchKv(bucket.kv, { key: ">", fromRevision: bucket.lastRevision + 1 }, (e) => {
      if (!over) onChange(changeFromKv(kind, e.key, e.operation === "PUT" ? e.value : null, log));
    });
    return { bucket, watch };
  });
  const stopAll = () => {
    over = true;
    for (const w of watches) w.watch.stop();
  };
  for (const { bucket, watch } of watches) {
    void watch.ended.then((reason) => {
      if (over) return;
      stopAll();
      onEnd(`kv ${bucket.name}: ${reason}`);
    });
  }
  return stopAll;
}
