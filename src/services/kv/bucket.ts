// Opening a KV bucket the backend owns: the agent binds to it and never creates it (wire.md §5).
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Logger } from "../logging/logger.js";
import type { NatsLink } from "../nats/link.js";
import { retryForever } from "../nats/retry.js";
import type { Random } from "../time/clock.js";

/** A bucket known to exist on the connection it was opened with. */
export interface OpenBucket {
  name: string;
  kv: KV;
  nc: NatsConnection;
  /**
   * The bucket's last revision when it was opened. A snapshot read after this and a watch from
   * `lastRevision + 1` together miss nothing written in between (behavior.md 11.2, 10.4).
   */
  lastRevision: number;
}

/** behavior.md 3.2: before an attempt, wait for a connection at most this long. */
const CONNECTION_WAIT_MS = 5_000;

/** One attempt: bind to `name` and prove that it exists (a bind alone sends nothing). */
export async function openExistingBucket(nc: NatsConnection, name: string): Promise<OpenBucket> {
  // `open` sets bindOnly: nothing is created, whatever the server holds.
  const kvm = new Kvm(nc);
  const bound = await kvm.open(name);
  const status = await bound.status();
  // A bind cannot know the stream's settings, so reads would go through the JetStream API
  // (STREAM.MSG.GET, queued behind every other API call). A bucket that allows direct gets (the
  // default of every client that creates one) is read the way the official clients read it:
  // one direct request, answered at once — the command gates read two keys per command.
  const kv = status.streamInfo.config.allow_direct
    ? await kvm.open(name, { allow_direct: true })
    : bound;
  return { name, kv, nc, lastRevision: status.streamInfo.state.last_seq };
}

export interface WaitForBucketOptions {
  link: NatsLink;
  log: Logger;
  random: Random;
  signal?: AbortSignal;
}

/**
 * Waits, forever, until bucket `name` exists (behavior.md 3.1): a missing bucket and a network
 * error are treated alike; a (re)connect wakes the wait at once. Rejects only on abort.
 */
export function waitForBucket(name: string, opts: WaitForBucketOptions): Promise<OpenBucket> {
  return retryForever(
    async () => {
      const nc = (await opts.link.waitConnected(CONNECTION_WAIT_MS)) ?? opts.link.connection;
      if (!nc) throw new Error("not connected to the broker");
      return openExistingBucket(nc, name);
    },
    {
      what: `kv ${name}`,
      log: opts.log,
      random: opts.random,
      wake$: opts.link.woken$,
      signal: opts.signal,
    },
  );
}
