// Publishing one inventory (behavior.md 14.4): JetStream, PubAck within 30 s, retried with the
// resource backoff until it is acknowledged or the caller aborts because a newer one replaced it.
import { type JetStreamClient, jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Logger } from "../logging/logger.js";
import type { NatsLink } from "../nats/link.js";
import { retryForever } from "../nats/retry.js";
import { inventorySubject } from "../nats/subjects.js";
import type { Random } from "../time/clock.js";

export const INVENTORY_PUBACK_TIMEOUT_MS = 30_000;
/** behavior.md 3.2: wait at most this long for a connection before an attempt. */
const CONNECT_WAIT_MS = 5_000;

export interface InventoryPublisherOptions {
  link: NatsLink;
  pcId: string;
  log: Logger;
  random: Random;
  ackTimeoutMs?: number;
}

export class InventoryPublisher {
  readonly #opts: InventoryPublisherOptions;
  #js: { nc: NatsConnection; js: JetStreamClient } | null = null;

  constructor(opts: InventoryPublisherOptions) {
    this.#opts = opts;
  }

  /** The server's `max_payload` on the current connection; 0 when unknown. */
  maxPayload(): number {
    const max = this.#opts.link.connection?.info?.max_payload;
    return typeof max === "number" && max > 0 ? max : 0;
  }

  /** Resolves once the stream acknowledged `bytes`; rejects only when `signal` aborts. */
  async publish(bytes: Uint8Array, signal?: AbortSignal): Promise<void> {
    const { link, log, random } = this.#opts;
    const subject = inventorySubject(this.#opts.pcId);
    await retryForever(
      async () => {
        const nc = await link.waitConnected(CONNECT_WAIT_MS);
        if (nc === null) throw new Error("not connected");
        signal?.throwIfAborted();
        await this.#jetstream(nc).publish(subject, bytes, {
          timeout: this.#opts.ackTimeoutMs ?? INVENTORY_PUBACK_TIMEOUT_MS,
        });
      },
      { what: `publish ${subject}`, log, random, wake$: link.woken$, signal },
    );
  }

  #jetstream(nc: NatsConnection): JetStreamClient {
    if (this.#js === null || this.#js.nc !== nc) this.#js = { nc, js: jetstream(nc) };
    return this.#js.js;
  }
}
