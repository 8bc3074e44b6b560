// On-demand inventory: each request on `agents.<pc_id>.inventory` with a reply subject gets the
// current inventory JSON. A core subscription; made again whenever the link's connection object
// changes (a client that reconnects by itself keeps its subscriptions).
import type { Msg } from "@nats-io/nats-core";
import type { Logger } from "../logging/logger.js";
import { followSubscription } from "../nats/followSubscription.js";
import type { NatsLink } from "../nats/link.js";
import { errorText } from "../nats/retry.js";
import { inventoryRequestSubject } from "../nats/subjects.js";

/** Requests waiting for a collection at once; beyond this they are dropped (no reply). */
export const MAX_PENDING_INVENTORY_REQUESTS = 64;

export interface InventoryResponderOptions {
  link: NatsLink;
  pcId: string;
  log: Logger;
  /** The reply body: the current inventory, collected if the cached one is too old. */
  current: () => Promise<Uint8Array>;
  maxPending?: number;
}

/** Serves requests until the returned function is called. */
export function serveInventoryRequests(opts: InventoryResponderOptions): () => void {
  const { link, log } = opts;
  const subject = inventoryRequestSubject(opts.pcId);
  const maxPending = opts.maxPending ?? MAX_PENDING_INVENTORY_REQUESTS;
  let pending = 0;

  const answer = (msg: Msg) => {
    if (!msg.reply) return;
    if (pending >= maxPending) {
      log.warn({ subject, pending }, "inventory request dropped: too many requests waiting");
      return;
    }
    pending++;
    opts
      .current()
      .then((bytes) => {
        if (!msg.respond(bytes))
          log.warn({ subject }, "inventory reply not sent: no reply subject");
      })
      .catch((err: unknown) => {
        log.warn({ subject, err: errorText(err) }, "inventory request not answered");
      })
      .finally(() => {
        pending--;
      });
  };

  const subscription = followSubscription(link, subject, answer, log);
  return () => subscription.stop();
}
