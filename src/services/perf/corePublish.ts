import type { NatsConnection } from "@nats-io/nats-core";

/** The current connection; `NatsLink` satisfies it. */
export interface LinkView {
  readonly connection: NatsConnection | null;
  readonly isConnected: boolean;
}

/**
 * A core publish of one JSON payload, only while connected (behavior.md 2.4): while the client
 * is reconnecting it would buffer the message and send it late, in a burst with the others, so
 * nothing is handed to it then. Returns whether the message was handed to the client.
 */
export function publishWhileConnected(
  link: LinkView,
  subject: string,
  payload: Record<string, unknown>,
): boolean {
  const nc = link.connection;
  if (!link.isConnected || nc === null || nc.isClosed()) return false;
  nc.publish(subject, JSON.stringify(payload));
  return true;
}
