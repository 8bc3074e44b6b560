import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import type { Logger } from "../logging/logger.js";
import type { NatsLink } from "./link.js";

/**
 * A core subscription that follows the link: nats.js re-subscribes by itself after a reconnect,
 * but a connection object that was rebuilt (closed for good, then connected anew) needs a new
 * subscription. Used by every responder and by the kill listener.
 */
export function followSubscription(
  link: Pick<NatsLink, "connection" | "connected$">,
  subject: string,
  onMessage: (msg: Msg, nc: NatsConnection) => void,
  log: Logger,
): { stop(): void } {
  let stopped = false;
  let current: { nc: NatsConnection; sub: Subscription } | null = null;
  const drop = () => {
    try {
      current?.sub.unsubscribe();
    } catch {
      // The connection is already closed; so is the subscription.
    }
    current = null;
  };
  const follow = () => {
    if (stopped) return;
    const nc = link.connection;
    if (nc && nc === current?.nc && !current.sub.isClosed()) return;
    drop();
    if (!nc || nc.isClosed()) return;
    try {
      const sub = nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err) log.warn({ subject, err: err.message }, "subscription error");
          else if (!stopped) onMessage(msg, nc);
        },
      });
      current = { nc, sub };
    } catch (err) {
      // A closing connection refuses; the next connect calls follow again.
      log.warn(
        { subject, err: err instanceof Error ? err.message : String(err) },
        "subscribe failed",
      );
    }
  };
  // connected$ is a BehaviorSubject view: it calls follow at once and on every (re)connect.
  const watch = link.connected$.subscribe(follow);
  return {
    stop() {
      stopped = true;
      watch.unsubscribe();
      drop();
    },
  };
}
