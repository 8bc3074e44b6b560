import { fromPromise, setup } from "xstate";

/**
 * The replay consumer's lifecycle (behavior.md §9): wait for stream EXEC, ensure the durable,
 * read back what it handed out to a pull nobody will ack (a killed process's), drain it, and
 * re-open after a pause whenever it ends (consumer deleted, stream gone, broker restarted). The
 * waits retry forever inside the provided actors (behavior.md §3).
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
    drain: fromPromise<{ reason: string }>(async () => ({ reason: "not provided" })),
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
        onDone: {
          target: "reopen",
          actions: { type: "reportEnd", params: ({ event }) => ({ reason: event.output.reason }) },
        },
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
