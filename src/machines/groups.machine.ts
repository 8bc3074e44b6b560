import { assign, enqueueActions, fromCallback, fromPromise, setup } from "xstate";
import {
  type MembershipEntry,
  type MembershipRead,
  membershipOf,
} from "../services/kv/groupsRead.js";

export type GroupsEvent =
  | { type: "GROUPS_ENTRY"; entry: MembershipEntry }
  | { type: "WATCH_ENDED"; reason: string; opened: boolean }
  | { type: "RECONNECTED" }
  | { type: "STOP" };

interface GroupsContext {
  membership: readonly string[];
  /** Revision of the entry the membership came from; older watch entries are ignored. */
  revision: number;
  /** Consecutive watches that could not be opened, for the backoff (behavior.md 3.5). */
  watchFailures: number;
  /** Where the watch after the last read starts. */
  fromRevision: number;
}

const sameGroups = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((g, i) => g === b[i]);

type Warning =
  | { type: "warnMalformed"; params: { problem: string } }
  | { type: "warnDropped"; params: { name: string; problem: string } };

/** The warnings a read calls for, and the new membership when it differs from `current`. */
function membershipStep(
  current: readonly string[],
  read: MembershipRead,
): { warnings: Warning[]; changed: string[] | null } {
  const warnings: Warning[] = [];
  if (read.kind === "malformed")
    warnings.push({ type: "warnMalformed", params: { problem: read.problem } });
  if (read.kind === "groups")
    for (const d of read.dropped) warnings.push({ type: "warnDropped", params: d });
  const groups = membershipOf(read);
  return { warnings, changed: sameGroups(current, groups) ? null : groups };
}

/**
 * The groups manager (behavior.md §10): read `agent_groups.<pc_id>`, then watch it; read again
 * 1 s after a failed read or an ended watch and after every reconnect. The membership is handed
 * on only when it changed. A pc_id that cannot be a KV key skips all of it (behavior.md 1.6).
 */
export const groupsMachine = setup({
  types: {
    context: {} as GroupsContext,
    events: {} as GroupsEvent,
  },
  actors: {
    /** One read (it may wait for the bucket); rejects on a read error. */
    readGroups: fromPromise<MembershipEntry & { fromRevision: number }>(async () => ({
      revision: 0,
      read: { kind: "none" },
      fromRevision: 1,
    })),
    /** Sends GROUPS_ENTRY for each entry of the key from `fromRevision` on, then WATCH_ENDED. */
    watch: fromCallback<GroupsEvent, { fromRevision: number }>(() => () => {}),
    /** Sends RECONNECTED on every (re)connect. */
    reconnects: fromCallback<GroupsEvent>(() => () => {}),
  },
  guards: {
    /** false when the pc_id cannot be used as a KV key. */
    kvUsable: () => true,
  },
  actions: {
    publishMembership: (_, _params: { groups: readonly string[] }) => {},
    warnMalformed: (_, _params: { problem: string }) => {},
    warnDropped: (_, _params: { name: string; problem: string }) => {},
    /** The first read is done: the membership is known (the replay consumer waits for it). */
    markKnown: () => {},
    reportReadFailure: (_, _params: { error: string }) => {},
    reportWatchEnd: (_, _params: { reason: string; failures: number }) => {},
  },
  delays: {
    // behavior.md 10.1 and 10.4: fixed pauses before reading again.
    rereadPause: 1_000,
    // behavior.md 3.5: 1 s after a watch ends; after failed re-opens, the backoff of 3.3
    // (overridden in production with its jitter).
    rewatchPause: ({ context }) =>
      context.watchFailures === 0 ? 1_000 : Math.min(2 ** (context.watchFailures - 1), 300) * 1_000,
  },
}).createMachine({
  id: "groups",
  context: { membership: [], revision: 0, fromRevision: 1, watchFailures: 0 },
  initial: "starting",
  on: { STOP: ".stopped" },
  states: {
    starting: {
      always: [{ guard: "kvUsable", target: "active" }, { target: "skipped" }],
    },
    active: {
      invoke: { src: "reconnects" },
      on: { RECONNECTED: ".reading" },
      initial: "reading",
      states: {
        reading: {
          invoke: {
            src: "readGroups",
            onDone: {
              target: "watching",
              actions: enqueueActions(({ context, event, enqueue }) => {
                const { revision, read, fromRevision } = event.output;
                const { warnings, changed } = membershipStep(context.membership, read);
                for (const w of warnings) enqueue(w);
                enqueue.assign({ revision, fromRevision });
                if (changed) {
                  enqueue.assign({ membership: changed });
                  enqueue({ type: "publishMembership", params: { groups: changed } });
                }
                enqueue("markKnown");
              }),
            },
            onError: {
              target: "readPause",
              actions: {
                type: "reportReadFailure",
                params: ({ event }) => ({ error: errorText(event.error) }),
              },
            },
          },
        },
        readPause: {
          after: { rereadPause: "reading" },
        },
        watching: {
          invoke: {
            src: "watch",
            input: ({ context }) => ({ fromRevision: context.fromRevision }),
          },
          on: {
            GROUPS_ENTRY: {
              guard: ({ context, event }) => event.entry.revision > context.revision,
              actions: enqueueActions(({ context, event, enqueue }) => {
                const { warnings, changed } = membershipStep(context.membership, event.entry.read);
                for (const w of warnings) enqueue(w);
                enqueue.assign({ revision: event.entry.revision });
                if (changed) {
                  enqueue.assign({ membership: changed });
                  enqueue({ type: "publishMembership", params: { groups: changed } });
                }
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
          after: { rewatchPause: "reading" },
        },
      },
    },
    skipped: {
      entry: "markKnown",
    },
    stopped: { type: "final" },
  },
});

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));
