import { fromPromise, setup } from "xstate";

/** Why a drain ended; `reconnected`: the connection came back (the durable is still there). */
export interface DrainEnd {
  reason: string;
  reconnected?: boolean;
}

/**
 * The replay consumer's lifecycle (behavior.md §9): wait for stream EXEC, ensure the durable,
 * read back what it handed out to a pull nobody will ack (a killed process's, or one on a
 * connection that was cut), drain it, and re-open after a pause whenever it ends (consumer
 * deleted, stream gone, broker restarted). A reconnect ends the drain too, and goes straight back
 * to reading back: the pull of the lost connection may have been handed commands. The waits
 * retry forever inside the provided actors (behavior.md §3).
 */
export const replayMachine = setup({
  types: {
    events: {} as { type: "STOP" },
  },
  actors: {
    waitForStream: fromPromise<void>(async () => {}),
    ensureConsumer: fromPromise<void>(async () => {}),
    /** Best effort: the ack wait brings back whatever it misses. */
    readUnacked: fromPromise<void>(async () => {}),
    drain: fromPromise<DrainEnd>(async () => ({ reason: "not provided" })),
  },
  guards: {
    endedByReconnect: ({ event }) => (event as { output?: DrainEnd }).output?.reconnected === true,
  },
  actions: {
    reportEnd: (_, _params: { reason: string }) => {},
  },
  delays: {
    // behavior.md 3.5: a fixed pause before re-opening an ended consumer.
    reopenPause: 1_000,
  },
}).createMachine({
  id: "replay",
  initial: "waitStream",
  on: { STOP: ".stopped" },
  states: {
    waitStream: {
      invoke: { src: "waitForStream", onDone: "waitConsumer", onError: "reopen" },
    },
    waitConsumer: {
      invoke: { src: "ensureConsumer", onDone: "catchingUp", onError: "reopen" },
    },
    catchingUp: {
      invoke: { src: "readUnacked", onDone: "draining", onError: "draining" },
    },
    draining: {
      invoke: {
        src: "drain",
        onDone: [
          { guard: "endedByReconnect", target: "catchingUp" },
          {
            target: "reopen",
            actions: {
              type: "reportEnd",
              params: ({ event }) => ({ reason: event.output.reason }),
            },
          },
        ],
        onError: {
          target: "reopen",
          actions: { type: "reportEnd", params: ({ event }) => ({ reason: String(event.error) }) },
        },
      },
    },
    reopen: {
      after: { reopenPause: "waitStream" },
    },
    stopped: { type: "final" },
  },
});
