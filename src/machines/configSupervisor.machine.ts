import { assign, enqueueActions, fromCallback, fromPromise, setup } from "xstate";
import {
  type ConfigConflict,
  diffEffectiveConfig,
  resolveEffectiveConfig,
} from "../services/config/resolve.js";
import {
  applyConfigEntry,
  type ConfigEntry,
  type ConfigMirror,
  emptyConfigMirror,
} from "../services/kv/configMirror.js";
import type { ConfigSnapshot } from "../services/kv/configSync.js";
import { DEFAULT_EFFECTIVE_CONFIG, defaultEffectiveConfig } from "../services/wire/configScope.js";
import type { EffectiveConfig } from "../services/wire/types.js";

export type ConfigSupervisorEvent =
  | { type: "CONFIG_ENTRY"; entry: ConfigEntry }
  | { type: "WATCH_ENDED"; reason: string; opened: boolean }
  | { type: "MEMBERSHIP_CHANGED"; groups: readonly string[] }
  | { type: "RECONNECTED" }
  | { type: "STOP" };

export interface ConfigSupervisorInput {
  /** Default of `max_local_concurrent`; the machine's CPU count when absent. */
  cpus?: number;
}

interface ConfigSupervisorContext {
  cpus: number;
  mirror: ConfigMirror;
  membership: readonly string[];
  /**
   * Whether the groups manager has read the membership once. Until then nothing is published:
   * a config resolved without the agent's groups could briefly lack an override that matters
   * (a group holding back `target_version`, say).
   */
  membershipKnown: boolean;
  /** The EffectiveConfig last handed to the other subsystems (the defaults at start). */
  published: EffectiveConfig;
  /** Consecutive watches that could not be opened, for the backoff (behavior.md 3.5). */
  watchFailures: number;
  /** Where the watch after the last full sync starts. */
  fromRevision: number;
}

export interface PublishConfigParams {
  config: EffectiveConfig;
  /** Wire names of the members that changed. */
  changed: string[];
  conflicts: ConfigConflict[];
}

/** The context after a mirror or membership change, and what to publish if the result moved. */
function resolveStep(
  context: ConfigSupervisorContext,
  next: { mirror?: ConfigMirror; membership?: readonly string[] },
): { patch: Partial<ConfigSupervisorContext>; publish: PublishConfigParams | null } {
  const mirror = next.mirror ?? context.mirror;
  const membership = next.membership ?? context.membership;
  const membershipKnown = context.membershipKnown || next.membership !== undefined;
  if (!membershipKnown) return { patch: { mirror }, publish: null };
  const { config, conflicts } = resolveEffectiveConfig({
    global: mirror.global,
    groups: mirror.groups,
    pc: mirror.pc,
    membership,
    cpus: context.cpus,
  });
  const changed = diffEffectiveConfig(context.published, config);
  if (changed.length === 0)
    return { patch: { mirror, membership, membershipKnown }, publish: null };
  return {
    patch: { mirror, membership, membershipKnown, published: config },
    publish: { config, changed, conflicts },
  };
}

/**
 * The config supervisor (behavior.md §11): full sync of `agent_config` into a mirror, then a watch
 * of every key; a re-sync after every reconnect, 1 s after a failed sync and 1 s after the watch
 * ends. Every change of the mirror or of the membership is resolved again, and the result is
 * published only when it differs from the last one. I/O lives in the provided actors.
 */
export const configSupervisorMachine = setup({
  types: {
    context: {} as ConfigSupervisorContext,
    events: {} as ConfigSupervisorEvent,
    input: {} as ConfigSupervisorInput | undefined,
  },
  actors: {
    /** One full sync attempt (it may wait for the bucket); rejects when any read failed. */
    fullSync: fromPromise<ConfigSnapshot>(async () => ({
      mirror: emptyConfigMirror(),
      malformed: [],
      fromRevision: 1,
    })),
    /** Sends CONFIG_ENTRY for each entry from `fromRevision` on, then WATCH_ENDED. */
    watch: fromCallback<ConfigSupervisorEvent, { fromRevision: number }>(() => () => {}),
    /** Sends MEMBERSHIP_CHANGED once the membership is known, then on every change. */
    membership: fromCallback<ConfigSupervisorEvent>(() => () => {}),
    /** Sends RECONNECTED on every (re)connect. */
    reconnects: fromCallback<ConfigSupervisorEvent>(() => () => {}),
  },
  actions: {
    publishConfig: (_, _params: PublishConfigParams) => {},
    warnMalformed: (_, _params: { key: string; problem: string }) => {},
    reportSynced: (_, _params: { keys: number }) => {},
    reportSyncFailure: (_, _params: { error: string }) => {},
    reportWatchEnd: (_, _params: { reason: string; failures: number }) => {},
  },
  delays: {
    // behavior.md 11.2 and 3.5: fixed pauses before a new full sync.
    resyncPause: 1_000,
    // behavior.md 3.5: 1 s after a watch ends; after failed re-opens, the backoff of 3.3
    // (overridden in production with its jitter).
    rewatchPause: ({ context }) =>
      context.watchFailures === 0 ? 1_000 : Math.min(2 ** (context.watchFailures - 1), 300) * 1_000,
  },
}).createMachine({
  id: "configSupervisor",
  context: ({ input }) => {
    const cpus = input?.cpus ?? DEFAULT_EFFECTIVE_CONFIG.maxLocalConcurrent;
    return {
      cpus,
      mirror: emptyConfigMirror(),
      membership: [],
      membershipKnown: false,
      published: defaultEffectiveConfig(cpus),
      fromRevision: 1,
      watchFailures: 0,
    };
  },
  initial: "running",
  on: { STOP: ".stopped" },
  states: {
    running: {
      invoke: [{ src: "membership" }, { src: "reconnects" }],
      on: {
        MEMBERSHIP_CHANGED: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const { patch, publish } = resolveStep(context, { membership: event.groups });
            enqueue.assign(patch);
            if (publish) enqueue({ type: "publishConfig", params: publish });
          }),
        },
        // A stale mirror is possible after any outage: read everything again.
        RECONNECTED: ".syncing",
      },
      initial: "syncing",
      states: {
        syncing: {
          invoke: {
            src: "fullSync",
            onDone: {
              target: "watching",
              actions: enqueueActions(({ context, event, enqueue }) => {
                const snapshot = event.output;
                for (const m of snapshot.malformed) enqueue({ type: "warnMalformed", params: m });
                enqueue({
                  type: "reportSynced",
                  params: { keys: snapshot.mirror.revisions.size },
                });
                const { patch, publish } = resolveStep(context, { mirror: snapshot.mirror });
                enqueue.assign({ ...patch, fromRevision: snapshot.fromRevision });
                if (publish) enqueue({ type: "publishConfig", params: publish });
              }),
            },
            onError: {
              target: "syncPause",
              actions: {
                type: "reportSyncFailure",
                params: ({ event }) => ({ error: errorText(event.error) }),
              },
            },
          },
        },
        syncPause: {
          after: { resyncPause: "syncing" },
        },
        watching: {
          invoke: {
            src: "watch",
            input: ({ context }) => ({ fromRevision: context.fromRevision }),
          },
          on: {
            CONFIG_ENTRY: {
              actions: enqueueActions(({ context, event, enqueue }) => {
                const { mirror, outcome } = applyConfigEntry(context.mirror, event.entry);
                if (outcome === "stale") return;
                if (event.entry.change.kind === "malformed")
                  enqueue({
                    type: "warnMalformed",
                    params: { key: event.entry.key, problem: event.entry.change.problem },
                  });
                const { patch, publish } = resolveStep(context, { mirror });
                enqueue.assign(patch);
                if (publish) enqueue({ type: "publishConfig", params: publish });
              }),
            },
            WATCH_ENDED: {
              target: "watchPause",
              actions: [
                assign({
                  watchFailures: ({ context, event }) =>
                    event.opened ? 0 : context.watchFailures + 1,
                }),
                {
                  type: "reportWatchEnd",
                  params: ({ event, context }) => ({
                    reason: event.reason,
                    failures: context.watchFailures,
                  }),
                },
              ],
            },
          },
        },
        watchPause: {
          after: { rewatchPause: "syncing" },
        },
      },
    },
    stopped: { type: "final" },
  },
});

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));
