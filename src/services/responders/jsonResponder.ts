import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import type { Logger } from "../logging/logger.js";
import type { NatsLink } from "../nats/link.js";

/**
 * Answers requests on `subject` with the JSON `build()` returns, on whatever connection the link
 * holds (subscribing again when the connection object is rebuilt). Requests without a reply
 * subject are ignored; a failing build answers `{"error": …}`.
 */
export function startJsonResponder(opts: {
  link: NatsLink;
  subject: string;
  log: Logger;
  build: (request: Uint8Array) => Promise<unknown> | unknown;
}): { stop(): void } {
  let sub: Subscription | null = null;
  let on: NatsConnection | null = null;
  const ensure = () => {
    const nc = opts.link.connection;
    if (!nc || nc === on || nc.isClosed()) return;
    sub?.unsubscribe();
    on = nc;
    sub = nc.subscribe(opts.subject, {
      callback: (err, msg) => {
        if (err || !msg.reply) return;
        void (async () => {
          try {
            msg.respond(JSON.stringify(await opts.build(msg.data)));
          } catch (e) {
            opts.log.warn({ subject: opts.subject, err: String(e) }, "responder failed");
            msg.respond(JSON.stringify({ error: String(e) }));
          }
        })();
      },
    });
  };
  ensure();
  const woken = opts.link.woken$.subscribe(ensure);
  return {
    stop() {
      woken.unsubscribe();
      sub?.unsubscribe();
    },
  };
}
