import { assign, fromCallback, fromPromise, raise, setup } from "xstate";

/**
 * Why a tick happens. `start` is the first tick after the ticker starts, `interval` follows an
 * interval change, `reconnect` a (re)connect, `period` the regular beat.
 */
export type TickReason = "start" | "period" | "interval" | "reconnect";

export interface TickInput {
  reason: TickReason;
  /** The interval in force; a sampler that keeps a baseline restarts it when this changes. */
  intervalMs: number;
}

export type TickerEvent =
  /** The configured interval is now `intervalMs` (also how the chart learns the first one). */
  | { type: "INTERVAL_CHANGED"; intervalMs: number }
  /** The broker connection came (back) up. */
  | { type: "RECONNECTED" }
  /** A tick is due now; raised by the chart itself, also accepted from outside. */
  | { type: "TICK_DUE"; reason: TickReason }
  | { type: "STOP" };

export type TickSkipReason = "disconnected" | "busy";

interface TickerContext {
  /** null until the follower tells the interval. */
  intervalMs: number | null;
  /** Reason of the tick being run, for the tick actor's input. */
  reason: TickReason;
}

/**
 * One ticker for heartbeats, host perf and process perf (behavior.md §12): the first tick comes
 * after a small per-agent spread delay, then every interval; an interval change ticks at once and
 * restarts the period (the ticker is "rebuilt"), and so does every (re)connect. The spread is for
 * the first tick after start only: reconnect ticks are spread by the clients' own reconnect
 * timing, and interval changes or connects during the spread wait for its tick. A due tick runs
 * the provided `tick` actor only while connected; otherwise it is skipped, never queued (2.4).
 * A tick that is still running when the next one is due makes that one skip too, so a slow
 * sample never piles up. Tick errors are reported, never retried.
 *
 * `follow` (invoked for the chart's whole life) feeds INTERVAL_CHANGED — starting with the
 * current interval, which is how the chart learns it — and RECONNECTED. The chart takes no
 * input: the root only invokes it.
 */
export const tickerMachine = setup({
  types: {
    context: {} as TickerContext,
    events: {} as TickerEvent,
  },
  actors: {
    follow: fromCallback<TickerEvent>(() => () => {}),
    tick: fromPromise<void, TickInput>(async () => {}),
  },
  guards: {
    connected: () => true,
  },
  actions: {
    reportSkip: (_, _params: { reason: TickReason; why: TickSkipReason }) => {},
    reportFailure: (_, _params: { reason: TickReason; error: unknown }) => {},
  },
  delays: {
    /** Delay of the first tick after start (overridden with the per-agent spread). */
    spread: 0,
    interval: ({ context }) => context.intervalMs ?? 30_000,
    /** A tick that has not ended by then is abandoned (its result ignored) and reported. */
    tickTimeout: 30_000,
  },
}).createMachine({
  id: "ticker",
  context: { intervalMs: null, reason: "start" },
  invoke: { src: "follow", id: "follow" },
  initial: "awaitingInterval",
  on: { STOP: ".stopped" },
  states: {
    awaitingInterval: {
      on: {
        INTERVAL_CHANGED: {
          target: "active",
          actions: assign({ intervalMs: ({ event }) => event.intervalMs }),
        },
      },
    },
    active: {
      type: "parallel",
      states: {
        schedule: {
          initial: "spreading",
          states: {
            spreading: {
              after: {
                spread: {
                  target: "periodic",
                  actions: raise({ type: "TICK_DUE", reason: "start" }),
                },
              },
              on: {
                // The pending first tick is at most a few seconds away and already counts
                // for these; ticking now would undo the spread for a fleet starting together.
                INTERVAL_CHANGED: {
                  actions: assign({ intervalMs: ({ event }) => event.intervalMs }),
                },
                RECONNECTED: {},
              },
            },
            periodic: {
              after: {
                interval: {
                  target: "periodic",
                  reenter: true,
                  actions: raise({ type: "TICK_DUE", reason: "period" }),
                },
              },
              on: {
                INTERVAL_CHANGED: {
                  guard: ({ context, event }) => event.intervalMs !== context.intervalMs,
                  target: "periodic",
                  reenter: true,
                  actions: [
                    assign({ intervalMs: ({ event }) => event.intervalMs }),
                    raise({ type: "TICK_DUE", reason: "interval" }),
                  ],
                },
                RECONNECTED: {
                  target: "periodic",
                  reenter: true,
                  actions: raise({ type: "TICK_DUE", reason: "reconnect" }),
                },
              },
            },
          },
        },
        work: {
          initial: "idle",
          states: {
            idle: {
              on: {
                TICK_DUE: [
                  {
                    guard: "connected",
                    target: "busy",
                    actions: assign({ reason: ({ event }) => event.reason }),
                  },
                  {
                    actions: {
                      type: "reportSkip",
                      params: ({ event }) => ({ reason: event.reason, why: "disconnected" }),
                    },
                  },
                ],
              },
            },
            busy: {
              invoke: {
                src: "tick",
                input: ({ context }) => ({
                  reason: context.reason,
                  intervalMs: context.intervalMs ?? 30_000,
                }),
                onDone: "idle",
                onError: {
                  target: "idle",
                  actions: {
                    type: "reportFailure",
                    params: ({ context, event }) => ({
                      reason: context.reason,
                      error: event.error,
                    }),
                  },
                },
              },
              after: {
                tickTimeout: {
                  target: "idle",
                  actions: {
                    type: "reportFailure",
                    params: ({ context }) => ({
                      reason: context.reason,
                      error: new Error("tick did not finish in time; abandoned"),
                    }),
                  },
                },
              },
              on: {
                TICK_DUE: {
                  actions: {
                    type: "reportSkip",
                    params: ({ event }) => ({ reason: event.reason, why: "busy" }),
                  },
                },
              },
            },
          },
        },
      },
    },
    stopped: { type: "final" },
  },
});
