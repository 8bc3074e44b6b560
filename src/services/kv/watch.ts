// A KV watch that ends when its consumer or bucket is gone, so that the caller can pause and
// read everything again (behavior.md 3.5, 10.4, 11.2). The library's own `kv.watch()` re-creates
// its consumer from the last sequence it saw, forever; after a bucket was deleted and created
// again that position means nothing, and the entries before it would be missed silently.
import type { ConsumerMessages, PushConsumer } from "@nats-io/jetstream";
import { Bucket, type KV, type KvEntry } from "@nats-io/kv";
import { errorText } from "../nats/retry.js";
import type { OpenBucket } from "./bucket.js";

export interface KvWatchEnd {
  /** Why it ended; "stopped" after `stop()`. */
  reason: string;
  /** false when the watch never started (its consumer could not be created). */
  opened: boolean;
}

export interface KvWatch {
  /** Resolves, never rejects, when the watch is over. */
  readonly ended: Promise<KvWatchEnd>;
  stop(): void;
}

export interface KvWatchOptions {
  /** A key or a wildcard (`>` = every key). */
  key: string;
  /** First revision to deliver; older entries are not replayed. */
  fromRevision: number;
}

/**
 * Streams every entry (PUT, DEL, PURGE) of `key` from `fromRevision` on, in revision order.
 * Loss of the bucket or of the consumer is noticed through the server's idle heartbeats: the
 * library's ordered push consumer sends one every 30 s and reports two missed, so a bucket
 * deleted under a live connection ends the watch within about a minute.
 */
export function watchKv(kv: KV, opts: KvWatchOptions, onEntry: (entry: KvEntry) => void): KvWatch {
  let stopped = false;
  let opened = false;
  let consumer: PushConsumer | undefined;
  let messages: ConsumerMessages | undefined;
  let endReason = "watch ended";

  const end = (reason: string) => {
    endReason = reason;
    messages?.stop();
  };

  const run = async (): Promise<string> => {
    if (!(kv instanceof Bucket)) throw new Error("not a JetStream KV bucket");
    const bucket = kv;
    consumer = await bucket.js.consumers.getPushConsumer(bucket.stream, {
      filter_subjects: bucket.fullKeyName(bucket.encodeKey(opts.key)),
      opt_start_seq: Math.max(1, opts.fromRevision),
    });
    if (stopped) return "stopped";
    const msgs = await consumer.consume({
      // Stream or consumer gone: end instead of re-creating the consumer at a stale position.
      abort_on_missing_resource: true,
      callback: (m) => {
        if (!stopped) onEntry(bucket.jmToWatchEntry(m, true));
      },
    });
    messages = msgs;
    opened = true;
    if (stopped) msgs.stop();
    void (async () => {
      for await (const s of msgs.status()) {
        if (s.type === "heartbeats_missed") end(`no heartbeat from the server (${s.count} missed)`);
        else if (s.type === "consumer_deleted") end("watch consumer deleted");
        else if (s.type === "stream_not_found") end("bucket not found");
      }
    })().catch(() => {});
    const err = await msgs.closed();
    if (stopped) return "stopped";
    return err ? `${endReason}: ${errorText(err)}` : endReason;
  };

  const ended = run()
    .catch((err: unknown) => (stopped ? "stopped" : `watch could not start: ${errorText(err)}`))
    .then((reason) => {
      // An ordered consumer lingers on the server for minutes unless deleted.
      void consumer?.delete().catch(() => {});
      return { reason, opened };
    });

  return {
    ended,
    stop() {
      if (stopped) return;
      stopped = true;
      messages?.stop();
    },
  };
}

/**
 * Runs a watch on the bucket a sync just read and reports its end once, unless cancelled
 * first. Without a bucket the watch ends at once. Returns the cancel function.
 */
export function followKv(
  bucket: OpenBucket | null,
  opts: KvWatchOptions,
  onEntry: (entry: KvEntry) => void,
  onEnd: (end: KvWatchEnd) => void,
): () => void {
  let live = true;
  if (!bucket) {
    queueMicrotask(() => {
      if (live) onEnd({ reason: "no bucket to watch", opened: false });
    });
    return () => {
      live = false;
    };
  }
  const watch = watchKv(bucket.kv, opts, (entry) => {
    if (live) onEntry(entry);
  });
  void watch.ended.then((end) => {
    if (live) onEnd(end);
  });
  return () => {
    live = false;
    watch.stop();
  };
}
