import { assign, fromCallback, fromPromise, raise, setup } from "xstate";

/** The four `agent_config` members the inventory follows (behavior.md §14), in ms. */
export interface InventorySettings {
  enabled: boolean;
  jitterMs: number;
  checkIntervalMs: number;
  intervalMs: number;
}

/** One finished collection, as the chart sees it. */
export interface InventoryCollection {
  /** `content_hash` of the payload as it would be published. */
  hash: string;
  /** Monotonic ms when it ended; the same clock as `PublishDone.at`. */
  at: number;
  /** What the publish actor sends; opaque to the chart. */
  payload: Uint8Array;
}

export interface PublishDone {
  /** Monotonic ms of the PubAck. */
  at: number;
}

export type InventoryEvent =
  | { type: "CONFIG"; settings: InventorySettings }
  | { type: "STOP" }
  // internal
  | { type: "TICK" }
  | { type: "RESCHEDULE" }
  | { type: "PUBLISH" };

interface InventoryContext {
  settings: InventorySettings;
  lastPublished: { hash: string; at: number } | null;
  /** The newest collection chosen for publishing; replaces any older one not yet acknowledged. */
  pending: InventoryCollection | null;
}

/** behavior.md §0 defaults, until the config watcher reports. */
export const DEFAULT_INVENTORY_SETTINGS: InventorySettings = {
  enabled: true,
  jitterMs: 60_000,
  checkIntervalMs: 3_600_000,
  intervalMs: 86_400_000,
};

/**
 * The built-in inventory (behavior.md §14): while enabled, a first collection after a random
 * delay, then one every check interval after the previous one started; a collection is
 * published when it is the first, changed, or the last publish is an `intervalMs` old. A tick
 * that comes while a collection runs is skipped; a newer collection replaces a publish that is
 * still retrying. On-demand requests are served in every state.
 */
export const inventoryMachine = setup({
  types: {
    context: {} as InventoryContext,
    events: {} as InventoryEvent,
  },
  actors: {
    watchConfig: fromCallback<InventoryEvent>(() => () => {}),
    serveRequests: fromCallback<InventoryEvent>(() => () => {}),
    collect: fromPromise<InventoryCollection>(async () => {
      throw new Error("collect actor not provided");
    }),
    publish: fromPromise<PublishDone, InventoryCollection>(async () => {
      throw new Error("publish actor not provided");
    }),
  },
  actions: {
    noteSkipped: () => {},
    noteUnchanged: (_, _params: { hash: string }) => {},
    notePublished: (_, _params: { hash: string }) => {},
    noteFailure: (_, _params: { what: "collect" | "publish"; error: unknown }) => {},
  },
  guards: {
    isEnabled: (_, params: { settings: InventorySettings }) => params.settings.enabled,
    isDisabled: (_, params: { settings: InventorySettings }) => !params.settings.enabled,
    checkIntervalChanged: ({ context }, params: { settings: InventorySettings }) =>
      params.settings.checkIntervalMs !== context.settings.checkIntervalMs,
    // behavior.md 14.3
    isWorthPublishing: ({ context }, params: { hash: string; at: number }) => {
      const last = context.lastPublished;
      return (
        last === null ||
        last.hash !== params.hash ||
        params.at - last.at >= context.settings.intervalMs
      );
    },
  },
  delays: {
    // Provided with the injected random (see `jitteredFirstDelay`); the bound is the default.
    firstDelay: ({ context }) => context.settings.jitterMs,
    checkInterval: ({ context }) => context.settings.checkIntervalMs,
  },
}).createMachine({
  id: "inventory",
  context: { settings: DEFAULT_INVENTORY_SETTINGS, lastPublished: null, pending: null },
  invoke: [{ src: "watchConfig" }, { src: "serveRequests" }],
  initial: "configuring",
  on: { STOP: ".stopped" },
  states: {
    configuring: {
      on: {
        CONFIG: [
          {
            guard: { type: "isEnabled", params: ({ event }) => ({ settings: event.settings }) },
            target: "enabled",
            actions: assign({ settings: ({ event }) => event.settings }),
          },
          { target: "disabled", actions: assign({ settings: ({ event }) => event.settings }) },
        ],
      },
    },
    disabled: {
      on: {
        CONFIG: [
          {
            guard: { type: "isEnabled", params: ({ event }) => ({ settings: event.settings }) },
            target: "enabled",
            actions: assign({ settings: ({ event }) => event.settings }),
          },
          { actions: assign({ settings: ({ event }) => event.settings }) },
        ],
      },
    },
    enabled: {
      type: "parallel",
      on: {
        CONFIG: [
          {
            guard: { type: "isDisabled", params: ({ event }) => ({ settings: event.settings }) },
            target: "disabled",
            actions: assign({ settings: ({ event }) => event.settings, pending: null }),
          },
          {
            guard: {
              type: "checkIntervalChanged",
              params: ({ event }) => ({ settings: event.settings }),
            },
            actions: [
              assign({ settings: ({ event }) => event.settings }),
              raise({ type: "RESCHEDULE" }),
            ],
          },
          { actions: assign({ settings: ({ event }) => event.settings }) },
        ],
      },
      states: {
        ticker: {
          initial: "firstWait",
          states: {
            firstWait: {
              after: { firstDelay: { target: "ticking", actions: raise({ type: "TICK" }) } },
            },
            ticking: {
              after: {
                checkInterval: {
                  target: "ticking",
                  reenter: true,
                  actions: raise({ type: "TICK" }),
                },
              },
              // A changed interval counts from now.
              on: { RESCHEDULE: { target: "ticking", reenter: true } },
            },
          },
        },
        worker: {
          initial: "idle",
          states: {
            idle: { on: { TICK: "collecting" } },
            collecting: {
              on: { TICK: { actions: "noteSkipped" } },
              invoke: {
                src: "collect",
                onDone: [
                  {
                    guard: {
                      type: "isWorthPublishing",
                      params: ({ event }) => ({ hash: event.output.hash, at: event.output.at }),
                    },
                    target: "idle",
                    actions: [
                      assign({ pending: ({ event }) => event.output }),
                      raise({ type: "PUBLISH" }),
                    ],
                  },
                  {
                    target: "idle",
                    actions: {
                      type: "noteUnchanged",
                      params: ({ event }) => ({ hash: event.output.hash }),
                    },
                  },
                ],
                onError: {
                  target: "idle",
                  actions: {
                    type: "noteFailure",
                    params: ({ event }) => ({ what: "collect" as const, error: event.error }),
                  },
                },
              },
            },
          },
        },
        publisher: {
          initial: "idle",
          states: {
            idle: { on: { PUBLISH: "publishing" } },
            publishing: {
              // A newer collection replaces the one still being retried.
              on: { PUBLISH: { target: "publishing", reenter: true } },
              invoke: {
                src: "publish",
                input: ({ context }) => context.pending!,
                onDone: {
                  target: "idle",
                  actions: [
                    {
                      type: "notePublished",
                      params: ({ context }) => ({ hash: context.pending?.hash ?? "" }),
                    },
                    assign({
                      lastPublished: ({ context, event }) => ({
                        hash: context.pending?.hash ?? "",
                        at: event.output.at,
                      }),
                      pending: null,
                    }),
                  ],
                },
                onError: {
                  target: "idle",
                  actions: {
                    type: "noteFailure",
                    params: ({ event }) => ({ what: "publish" as const, error: event.error }),
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

/** `firstDelay` drawn uniformly in [0, jitter] with the injected random (behavior.md 14.1). */
export function jitteredFirstDelay(
  random: () => number,
): ({ context }: { context: InventoryContext }) => number {
  return ({ context }) => Math.floor(random() * (context.settings.jitterMs + 1));
}
