import {
  type AnyActorRef,
  assign,
  enqueueActions,
  fromCallback,
  fromPromise,
  setup,
  spawnChild,
  stopChild,
} from "xstate";
import type { AdmittedCommand } from "../services/commands/pipeline.js";
import { type CommandInput, commandMachine } from "./command.machine.js";
import { configSupervisorMachine } from "./configSupervisor.machine.js";
import { connectionMachine } from "./connection.machine.js";
import { groupsMachine } from "./groups.machine.js";
import { inventoryMachine } from "./inventory.machine.js";
import { type LocalSchedulerInput, localSchedulerMachine } from "./localScheduler.machine.js";
import { replayMachine } from "./replay.machine.js";
import { selfUpdateMachine } from "./selfUpdate.machine.js";
import { tickerMachine } from "./ticker.machine.js";

export type AgentEvent =
  | { type: "STOP" }
  /** The admission pipeline accepted a command (or crash recovery resumes one). */
  | CommandAdmittedEvent
  /** A message on `kill.<exec_id>` (the one `kill.*` subscription): told to every live command. */
  | { type: "KILL"; execId: string }
  /** A spawned command actor is over (done or abandoned): it is stopped. */
  | { type: "COMMAND_ENDED"; actorId: string }
  /** A child failed: an exception in one of its actions or guards (a bug). */
  | { type: `xstate.error.actor.${string}`; actorId: string; error: unknown };

type CommandAdmittedEvent = {
  type: "COMMAND_ADMITTED";
  admitted: AdmittedCommand;
  resume?: CommandInput["resume"];
  killedWhileWaiting?: boolean;
};

function commandInput(event: AgentEvent): CommandInput {
  const { admitted, resume, killedWhileWaiting } = event as CommandAdmittedEvent;
  return {
    requestId: admitted.requestId,
    command: admitted.command,
    rejection: admitted.rejection,
    receivedAt: admitted.receivedAt,
    resume,
    killedWhileWaiting,
  };
}

interface AgentContext {
  /** Live command actors; the count returns to 0 when all are done (no leaks). */
  commands: number;
  localScheduler: LocalSchedulerInput;
}

export interface AgentInput {
  localScheduler: LocalSchedulerInput;
}

const COMMAND_PREFIX = "command#";

/** The live command actors among the root's children. */
const commandActors = (self: AnyActorRef): AnyActorRef[] =>
  Object.entries(self.getSnapshot().children as Record<string, AnyActorRef | undefined>).flatMap(
    ([id, child]) => (id.startsWith(COMMAND_PREFIX) && child ? [child] : []),
  );

/**
 * The root of the actor tree (design.md). Long-lived children are invoked with a systemId so
 * the inspector and `system.get()` find them; every admitted command gets its own spawned actor,
 * stopped when it is done. `STOP` runs the graceful stop sequence of behavior.md §18.2.
 */
export const agentMachine = setup({
  types: {
    context: {} as AgentContext,
    events: {} as AgentEvent,
    input: {} as AgentInput,
  },
  actors: {
    connection: connectionMachine,
    replay: replayMachine,
    command: commandMachine,
    heartbeat: tickerMachine,
    hostPerf: tickerMachine,
    processPerf: tickerMachine,
    inventory: inventoryMachine,
    configSupervisor: configSupervisorMachine,
    groups: groupsMachine,
    localScheduler: localSchedulerMachine,
    selfUpdate: selfUpdateMachine,
    /** Live subscriptions + the admission pipeline; sends COMMAND_ADMITTED to the root. */
    intake: fromCallback<AgentEvent>(() => () => {}),
    /** The outbox drain loops (behavior.md §8.2). */
    outboxes: fromCallback(() => () => {}),
    /** Services without a lifecycle of their own (responders, tickers…), started together. */
    auxiliaries: fromCallback(() => () => {}),
    /** One last drain pass during the stop sequence (behavior.md 18.2). */
    finalDrain: fromPromise<void>(async () => {}),
  },
  actions: {
    /** Stop taking commands: unsubscribe command subjects, stop the local scheduler. */
    stopIntake: () => {},
    /** A command actor failed: its slot is given back and the error logged. */
    commandFailed: (_, _params: { requestId: string; error: unknown }) => {},
  },
  guards: {
    isCommandActor: ({ event }) =>
      "actorId" in event && String(event.actorId).startsWith(COMMAND_PREFIX),
    noCommandsLeft: ({ context }) => context.commands === 0,
  },
  delays: {
    // 18.2: children may finish until 1.5 s, then TERM, then KILL 1.5 s later; results written.
    settleLimit: 3_300,
    // 18.2: one drain pass ending by 4 s.
    drainLimit: 600,
    // Everything must be over by 5 s; keep a margin for the exit itself.
    stopDeadline: 4_700,
  },
}).createMachine({
  id: "agent",
  context: ({ input }) => ({ commands: 0, localScheduler: input.localScheduler }),
  invoke: [
    { src: "connection", id: "connection", systemId: "connection", onDone: ".stopped" },
    { src: "outboxes", id: "outboxes", systemId: "outboxes" },
    { src: "auxiliaries", id: "auxiliaries", systemId: "auxiliaries" },
    { src: "heartbeat", id: "heartbeat", systemId: "heartbeat" },
    { src: "hostPerf", id: "hostPerf", systemId: "hostPerf" },
    { src: "processPerf", id: "processPerf", systemId: "processPerf" },
    { src: "inventory", id: "inventory", systemId: "inventory" },
    {
      src: "configSupervisor",
      id: "configSupervisor",
      systemId: "configSupervisor",
      input: undefined,
    },
    { src: "groups", id: "groups", systemId: "groups" },
    { src: "selfUpdate", id: "selfUpdate", systemId: "selfUpdate" },
    {
      src: "localScheduler",
      id: "localScheduler",
      systemId: "localScheduler",
      input: ({ context }) => context.localScheduler,
    },
  ],
  on: {
    // Each command decides whether the kill is its own: one message kills every run of an
    // exec_id (7.16), and a few dozen live actors at most are asked.
    KILL: {
      actions: enqueueActions(({ event, enqueue, self }) => {
        for (const child of commandActors(self)) enqueue.sendTo(child, event);
      }),
    },
    COMMAND_ENDED: {
      actions: [
        stopChild(({ event }) => event.actorId),
        assign({ commands: ({ context }) => context.commands - 1 }),
      ],
    },
    // A failed command actor is let go like an ended one: left live, it would hold a place of
    // the admission backlog (sized on live actors) and the stop sequence's count for ever.
    "xstate.error.actor.*": {
      guard: "isCommandActor",
      actions: [
        {
          type: "commandFailed",
          params: ({ event }) => {
            const { actorId, error } = event as { actorId: string; error: unknown };
            return { requestId: actorId.slice(COMMAND_PREFIX.length), error };
          },
        },
        stopChild(({ event }) => (event as { actorId: string }).actorId),
        assign({ commands: ({ context }) => context.commands - 1 }),
      ],
    },
  },
  initial: "running",
  states: {
    running: {
      invoke: [
        { src: "intake", id: "intake", systemId: "intake" },
        { src: "replay", id: "replay", systemId: "replay" },
      ],
      on: {
        COMMAND_ADMITTED: {
          actions: [
            spawnChild("command", {
              id: ({ event }) => `${COMMAND_PREFIX}${commandInput(event).requestId}`,
              input: ({ event }) => commandInput(event),
            }),
            assign({ commands: ({ context }) => context.commands + 1 }),
          ],
        },
        STOP: "stopping",
      },
    },
    stopping: {
      entry: [
        { type: "stopIntake" },
        ({ system }) => system.get("localScheduler")?.send({ type: "STOP" }),
        ({ system }) => system.get("selfUpdate")?.send({ type: "STOP" }),
        enqueueActions(({ context, enqueue, self }) => {
          if (context.commands === 0) return;
          for (const child of commandActors(self))
            enqueue.sendTo(child, { type: "AGENT_STOPPING" });
        }),
      ],
      after: { stopDeadline: "stopped" },
      initial: "settling",
      states: {
        settling: {
          always: { guard: "noCommandsLeft", target: "flushing" },
          after: { settleLimit: "flushing" },
        },
        flushing: {
          invoke: { src: "finalDrain", onDone: "closing", onError: "closing" },
          after: { drainLimit: "closing" },
        },
        closing: {
          entry: ({ system }) => system.get("connection")?.send({ type: "STOP" }),
        },
      },
    },
    stopped: { type: "final" },
  },
});
