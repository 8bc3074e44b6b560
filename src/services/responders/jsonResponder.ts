import type { Logger } from "../logging/logger.js";
import { followSubscription } from "../nats/followSubscription.js";
import type { NatsLink } from "../nats/link.js";

/**
 * Answers requests on `subject` with the JSON `build()` returns. Requests without a reply
 * subject are ignored; a failing build answers `{"error": …}`.
 */
export function startJsonResponder(opts: {
  link: NatsLink;
  subject: string;
  log: Logger;
  build: (request: Uint8Array) => Promise<unknown> | unknown;
}): { stop(): void } {
  return followSubscription(
    opts.link,
    opts.subject,
    (msg) => {
      if (!msg.reply) return;
      void (async () => {
        try {
          msg.respond(JSON.stringify(await opts.build(msg.data)));
        } catch (e) {
          opts.log.warn({ subject: opts.subject, err: String(e) }, "responder failed");
          msg.respond(JSON.stringify({ error: String(e) }));
        }
      })();
    },
    opts.log,
  );
}
