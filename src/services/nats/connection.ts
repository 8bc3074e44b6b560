import type { NatsConnection, Status } from "@nats-io/nats-core";
import { connect, type NodeConnectionOptions } from "@nats-io/transport-node";
import type { ConnectionStatusEvent } from "./connectionEvents.js";

/**
 * Opens the broker connection. With `waitOnFirstConnect` the promise resolves only once a server
 * answered, and keeps trying in the background until then (behavior.md 2.1, 1.10).
 */
export function openConnection(
  options: NodeConnectionOptions,
  diagnose?: { onFailure: (reason: string) => void; firstAfterMs?: number; everyMs?: number },
): Promise<NatsConnection> {
  const opening = connect(options);
  if (diagnose) diagnoseFirstConnect(opening, options, diagnose);
  return opening;
}

/**
 * With `waitOnFirstConnect` the client keeps its reasons to itself while it retries, so an
 * operator would see nothing for a wrong CA, a missing client certificate or a bad password.
 * While the first connect has not succeeded, one plain attempt (no retries) is made now and then
 * to learn why; its error is reported when it is new, or every `everyMs`.
 */
function diagnoseFirstConnect(
  opening: Promise<NatsConnection>,
  options: NodeConnectionOptions,
  d: { onFailure: (reason: string) => void; firstAfterMs?: number; everyMs?: number },
): void {
  let done = false;
  let last = "";
  let lastAt = 0;
  let timer: NodeJS.Timeout | undefined;
  const every = d.everyMs ?? 300_000;
  const probe = async () => {
    if (done) return;
    try {
      const nc = await connect({
        ...options,
        waitOnFirstConnect: false,
        maxReconnectAttempts: 0,
        reconnect: false,
      });
      await nc.close();
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      const now = Date.now();
      if (!done && (reason !== last || now - lastAt >= every)) {
        last = reason;
        lastAt = now;
        d.onFailure(reason);
      }
    }
    if (!done) timer = setTimeout(() => void probe(), 5_000);
  };
  timer = setTimeout(() => void probe(), d.firstAfterMs ?? 5_000);
  void opening.then(
    () => {
      done = true;
      clearTimeout(timer);
    },
    () => {
      done = true;
      clearTimeout(timer);
    },
  );
}

/** Maps a nats.js status to the chart's event, or null for noise (pings, cluster updates). */
export function toStatusEvent(s: Status): ConnectionStatusEvent | null {
  switch (s.type) {
    case "disconnect":
      return { type: "DISCONNECTED", server: s.server };
    case "reconnecting":
      return { type: "RECONNECTING" };
    case "reconnect":
      return { type: "RECONNECTED", server: s.server };
    case "staleConnection":
      return { type: "STALE" };
    case "ldm":
      return { type: "LAME_DUCK", server: s.server };
    case "error":
      return { type: "SERVER_ERROR", message: s.error.message };
    default:
      return null;
  }
}

/** Forwards status events and the final close until `stop()`; returns stop. */
export function watchConnection(
  nc: NatsConnection,
  emit: (e: ConnectionStatusEvent) => void,
): () => void {
  let stopped = false;
  void (async () => {
    for await (const s of nc.status()) {
      if (stopped) return;
      const e = toStatusEvent(s);
      if (e) emit(e);
    }
  })().catch(() => {});
  void nc.closed().then((err) => {
    if (!stopped) emit({ type: "CLOSED", message: err ? err.message : undefined });
  });
  return () => {
    stopped = true;
  };
}

/** Drains subscriptions when possible, closes otherwise; bounded so shutdown never hangs. */
export async function closeConnection(nc: NatsConnection | null, ms = 500): Promise<void> {
  if (!nc || nc.isClosed()) return;
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<void>((r) => {
    timer = setTimeout(r, ms);
  });
  await Promise.race([nc.drain().catch(() => nc.close()), limit]);
  clearTimeout(timer);
  if (!nc.isClosed()) await nc.close().catch(() => {});
}
