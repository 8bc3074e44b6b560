import type { NatsConnection } from "@nats-io/nats-core";
import { assign, fromCallback, fromPromise, setup } from "xstate";
import type { ConnectionStatusEvent } from "../services/nats/connectionEvents.js";

export type { ConnectionStatusEvent };

export type ConnectionEvent = ConnectionStatusEvent | { type: "STOP" };

interface ConnectionContext {
  nc: NatsConnection | null;
  /** Consecutive failed connection builds, for the backoff (behavior.md 2.2, 3.3). */
  failures: number;
}

/**
 * connecting → open(connected ⇄ reconnecting) → closed. The client reconnects by itself
 * (unlimited attempts); only a connection that closed for good is rebuilt here, after backoff.
 * Effects come from the provided actors and actions: this file does no I/O.
 */
export const connectionMachine = setup({
  types: {
    context: {} as ConnectionContext,
    events: {} as ConnectionEvent,
  },
  actors: {
    connect: fromPromise<NatsConnection>(async () => {
      throw new Error("connect actor not provided");
    }),
    watchStatus: fromCallback<ConnectionEvent, { nc: NatsConnection }>(() => () => {}),
    close: fromPromise<void, { nc: NatsConnection | null }>(async () => {}),
  },
  actions: {
    announceUp: (_, _params: { nc: NatsConnection; reconnect: boolean }) => {},
    announceDown: (_, _params: { reason: string }) => {},
    announceNotice: (_, _params: { event: ConnectionStatusEvent }) => {},
  },
  delays: {
    // Overridden in production with the jittered backoff of behavior.md 3.3.
    rebuildDelay: ({ context }) => Math.min(2 ** Math.max(0, context.failures - 1), 300) * 1000,
  },
}).createMachine({
  id: "connection",
  context: { nc: null, failures: 0 },
  initial: "connecting",
  states: {
    connecting: {
      invoke: {
        src: "connect",
        onDone: {
          target: "open",
          actions: [
            assign({ nc: ({ event }) => event.output, failures: 0 }),
            { type: "announceUp", params: ({ event }) => ({ nc: event.output, reconnect: false }) },
          ],
        },
        onError: {
          target: "backoff",
          actions: [
            assign({ failures: ({ context }) => context.failures + 1 }),
            {
              type: "announceDown",
              params: ({ event }) => ({ reason: `connect failed: ${String(event.error)}` }),
            },
          ],
        },
      },
      on: { STOP: "closed" },
    },
    backoff: {
      after: { rebuildDelay: "connecting" },
      on: { STOP: "closed" },
    },
    open: {
      invoke: {
        src: "watchStatus",
        input: ({ context }) => ({ nc: context.nc! }),
      },
      initial: "connected",
      states: {
        connected: {
          initial: "healthy",
          states: {
            healthy: {},
            stale: {},
            lameDuck: {},
          },
          on: {
            STALE: {
              target: ".stale",
              actions: { type: "announceNotice", params: ({ event }) => ({ event }) },
            },
            LAME_DUCK: {
              target: ".lameDuck",
              actions: { type: "announceNotice", params: ({ event }) => ({ event }) },
            },
            DISCONNECTED: {
              target: "reconnecting",
              actions: {
                type: "announceDown",
                params: ({ event }) => ({ reason: `disconnected from ${event.server}` }),
              },
            },
          },
        },
        reconnecting: {
          on: {
            RECONNECTED: {
              target: "connected",
              actions: {
                type: "announceUp",
                params: ({ context }) => ({ nc: context.nc!, reconnect: true }),
              },
            },
          },
        },
      },
      on: {
        SERVER_ERROR: { actions: { type: "announceNotice", params: ({ event }) => ({ event }) } },
        CLOSED: {
          target: "backoff",
          actions: [
            {
              type: "announceDown",
              params: ({ event }) => ({
                reason: `connection closed${event.message ? `: ${event.message}` : ""}`,
              }),
            },
            assign({ nc: null, failures: ({ context }) => context.failures + 1 }),
          ],
        },
        STOP: "closing",
      },
    },
    closing: {
      invoke: {
        src: "close",
        input: ({ context }) => ({ nc: context.nc }),
        onDone: "closed",
        onError: "closed",
      },
      after: { 1000: "closed" },
    },
    closed: { type: "final" },
  },
});
