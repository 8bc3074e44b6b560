import { assign, enqueueActions, fromCallback, fromPromise, sendTo, setup } from "xstate";
import type { Rejection } from "../services/commands/pipeline.js";
import type { RunOutcome } from "../services/exec/run.js";
import type { Command } from "../services/wire/types.js";

/** Why a command is not run (behavior.md 5.2 steps 5–9, 7.2): a synthetic result. */
export interface Skip {
  exitCode: number;
  /** The stderr note; absent for a deadline that passed while queued, which the reporter words. */
  note?: string;
}

export interface Launch {
  resultId: string;
  startedAt: number;
  spawnAt: number;
}

/** What the run actor reports when the child is gone; opaque to the chart. */
export type RunEnded = RunOutcome;

export interface CommandInput {
  requestId: string;
  /** null when the command was admitted as rejected (bad schema): it ends with exit 122. */
  command: Command | null;
  rejection?: Rejection;
  receivedAt: number;
  /** A `launching` ledger record recovered after a restart (behavior.md 6.6). */
  resume?: Launch;
  /** A kill for its exec_id arrived while it waited in the admission backlog. */
  killedWhileWaiting?: boolean;
}

export type CommandEvent =
  /** A message on `kill.<exec_id>`; every live command hears it and the one it names obeys. */
  | { type: "KILL"; execId: string }
  | { type: "AGENT_STOPPING" }
  | { type: "EXITED"; outcome: RunEnded };

/** Everything the reporter needs to write the one result of this command. */
export interface ReportInput extends CommandInput {
  launch: Launch | null;
  skip: Skip | null;
  outcome: RunEnded | null;
}

interface CommandContext extends CommandInput {
  launch: Launch | null;
  skip: Skip | null;
  outcome: RunEnded | null;
  holdsSlot: boolean;
}

/**
 * One admitted command, from its queue slot to its one result (design.md):
 * queued → gating → launching → jitter → running → reporting → done (then stopped by its parent).
 * A kill applies from the moment the command waits for a slot; an agent stop abandons what has
 * not started (the ledger resumes it after the restart) and lets a running child end or be killed.
 */
export const commandMachine = setup({
  types: {
    context: {} as CommandContext,
    events: {} as CommandEvent,
    input: {} as CommandInput,
  },
  actors: {
    evaluateGates: fromPromise<Skip | null, { command: Command; receivedAt: number }>(
      async () => null,
    ),
    acquireSlot: fromPromise<void, { requestId: string }>(async () => {}),
    launch: fromPromise<Launch, { requestId: string; command: Command; receivedAt: number }>(
      async () => {
        throw new Error("launch actor not provided");
      },
    ),
    run: fromCallback<CommandEvent, { requestId: string; command: Command; launch: Launch }>(
      () => () => {},
    ),
    report: fromPromise<void, ReportInput>(async () => {}),
  },
  actions: {
    releaseSlot: () => {},
    /** A kill naming this command arrived (logged with its request_id and exec_id). */
    killReceived: () => {},
    /**
     * Tells the parent this command is over; the parent stops it. `done` and `abandoned` are not
     * final states on purpose: xstate keeps, for the life of a machine, the transitions it
     * selected for every event type the machine ever received, and a final child's end reaches
     * its parent as `xstate.done.actor.<child id>` — one new event type per command. The root
     * then grew by ~480 bytes per command, for ever (measured on 3 × 20 000 commands).
     */
    ended: enqueueActions(({ enqueue, self }) => {
      if (self._parent) enqueue.sendTo(self._parent, { type: "COMMAND_ENDED", actorId: self.id });
    }),
  },
  guards: {
    isRejected: ({ context }) => context.command === null,
    wasKilledWhileWaiting: ({ context }) => context.killedWhileWaiting === true,
    isResumed: ({ context }) => context.resume !== undefined,
    /** The kill names this command's exec_id (commands without one cannot be killed, 7.2). */
    isOwnKill: ({ context, event }) =>
      event.type === "KILL" && event.execId !== "" && event.execId === context.command?.execId,
    /** The spawn time has come (a long jitter is waited for in laps). */
    spawnDue: () => true,
    /** The launch just done has no jitter left to wait (its `spawn_at` is now or past). */
    launchDue: () => true,
    /** The command has a starting deadline to watch while it waits for a slot. */
    hasDeadline: ({ context }) => context.command?.deadlineAt !== undefined,
    /** The starting deadline has passed while the command waited for a slot. */
    deadlinePassed: () => true,
  },
  delays: {
    /** Remaining jitter: `spawnAt − now`, at least 0 (behavior.md 7.1, 6.6). */
    untilSpawn: () => 0,
    /** Time left before the starting deadline passes while queued (behavior.md 5.4). */
    untilDeadline: () => Number.MAX_SAFE_INTEGER,
    /** behavior.md 18.2: running children may finish until 1.5 s after the stop signal. */
    stopGrace: 1_500,
  },
}).createMachine({
  id: "command",
  context: ({ input }) => ({
    ...input,
    launch: input.resume ?? null,
    skip: null,
    outcome: null,
    holdsSlot: false,
  }),
  initial: "routing",
  states: {
    routing: {
      always: [
        {
          guard: "isRejected",
          target: "reporting",
          actions: assign({
            skip: ({ context }) => ({ exitCode: 122, note: context.rejection?.note ?? "rejected" }),
          }),
        },
        {
          guard: "wasKilledWhileWaiting",
          target: "reporting",
          actions: assign({
            skip: ({ context }) => ({
              exitCode: -1,
              note: `killed by remote signal (kill.${context.command?.execId})`,
            }),
          }),
        },
        { guard: "isResumed", target: "active.jitter" },
        { target: "active" },
      ],
    },
    active: {
      exit: [{ type: "releaseSlot" }],
      initial: "queued",
      states: {
        queued: {
          invoke: {
            src: "acquireSlot",
            input: ({ context }) => ({ requestId: context.requestId }),
            onDone: { target: "gating", actions: assign({ holdsSlot: true }) },
          },
          initial: "watching",
          states: {
            // Without a deadline only the slot ends the wait: no timer to start and cancel.
            watching: {
              always: [{ guard: "hasDeadline", target: "waiting" }, { target: "unbounded" }],
            },
            unbounded: {},
            waiting: {
              // Timers cap out at ~24.8 days, so a far deadline is waited for in laps.
              after: {
                untilDeadline: [
                  {
                    guard: "deadlinePassed",
                    target: "#command.reporting",
                    // The reporter words the note: it knows the time of the decision.
                    actions: assign({ skip: { exitCode: 125 } }),
                  },
                  { target: "waiting", reenter: true },
                ],
              },
            },
          },
        },
        // The gates are read once a slot is free, right before the launch: a command that waited
        // in the queue is judged on the revocation and version pin of the moment it would run.
        gating: {
          invoke: {
            src: "evaluateGates",
            input: ({ context }) => ({ command: context.command!, receivedAt: context.receivedAt }),
            onDone: [
              {
                guard: ({ event }) => event.output !== null,
                target: "#command.reporting",
                actions: assign({ skip: ({ event }) => event.output }),
              },
              { target: "launching" },
            ],
            onError: {
              target: "#command.reporting",
              actions: assign({
                skip: ({ event }) => ({ exitCode: 122, note: `rejected: ${String(event.error)}` }),
              }),
            },
          },
        },
        launching: {
          invoke: {
            src: "launch",
            input: ({ context }) => ({
              requestId: context.requestId,
              command: context.command!,
              receivedAt: context.receivedAt,
            }),
            onDone: [
              // No jitter: straight to the run, without arming the jitter's timer.
              {
                guard: "launchDue",
                target: "running",
                actions: assign({ launch: ({ event }) => event.output }),
              },
              { target: "jitter", actions: assign({ launch: ({ event }) => event.output }) },
            ],
            onError: {
              target: "#command.reporting",
              actions: assign({
                skip: ({ event }) => ({
                  exitCode: 120,
                  note: `failed to start: ${String(event.error)}`,
                }),
              }),
            },
          },
        },
        jitter: {
          // No jitter, or a resumed one already over: straight on, without a timer turn.
          always: { guard: "spawnDue", target: "running" },
          after: {
            untilSpawn: [
              { guard: "spawnDue", target: "running" },
              { target: "jitter", reenter: true },
            ],
          },
        },
        running: {
          invoke: {
            id: "child",
            src: "run",
            input: ({ context }) => ({
              requestId: context.requestId,
              command: context.command!,
              launch: context.launch!,
            }),
          },
          on: {
            KILL: {
              guard: "isOwnKill",
              actions: [{ type: "killReceived" }, sendTo("child", ({ event }) => event)],
            },
            EXITED: {
              target: "#command.reporting",
              actions: assign({ outcome: ({ event }) => event.outcome }),
            },
            AGENT_STOPPING: ".stopping",
          },
          initial: "waiting",
          states: {
            waiting: {},
            stopping: {
              after: { stopGrace: { actions: sendTo("child", { type: "AGENT_STOPPING" }) } },
            },
          },
        },
      },
      on: {
        KILL: {
          guard: "isOwnKill",
          target: "reporting",
          actions: [
            { type: "killReceived" },
            assign({
              skip: ({ context }) => ({
                exitCode: -1,
                note: `killed by remote signal (kill.${context.command?.execId})`,
              }),
            }),
          ],
        },
        AGENT_STOPPING: "abandoned",
      },
    },
    reporting: {
      invoke: {
        src: "report",
        input: ({ context }): ReportInput => {
          const { holdsSlot: _h, ...report } = context;
          return report;
        },
        onDone: "done",
        onError: "done",
      },
    },
    /** Stopped before launch: the ledger keeps it admitted/launching and resumes it later. */
    abandoned: { entry: "ended" },
    /** Its one result is written. */
    done: { entry: "ended" },
  },
});
