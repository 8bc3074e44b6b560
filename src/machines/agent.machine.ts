import { setup } from "xstate";
import { connectionMachine } from "./connection.machine.js";

/**
 * The root of the actor tree (design.md). Long-lived children are invoked here with a systemId
 * so the inspector and `system.get()` can find them; `STOP` runs the graceful stop sequence
 * (behavior.md §18) and the machine ends when the connection is closed or the hard limit hits.
 */
export const agentMachine = setup({
  types: {
    events: {} as { type: "STOP" },
  },
  actors: {
    connection: connectionMachine,
  },
  delays: {
    // behavior.md 18.2: everything must be over by 5 s; keep a margin for the exit itself.
    stopDeadline: 4_500,
  },
}).createMachine({
  id: "agent",
  invoke: { src: "connection", id: "connection", systemId: "connection", onDone: ".stopped" },
  initial: "running",
  states: {
    running: {
      on: { STOP: "stopping" },
    },
    stopping: {
      entry: ({ system }) => system.get("connection")?.send({ type: "STOP" }),
      after: { stopDeadline: "stopped" },
    },
    stopped: { type: "final" },
  },
});
