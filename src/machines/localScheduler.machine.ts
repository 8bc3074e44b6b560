import { assign, enqueueActions, fromCallback, fromPromise, setup } from "xstate";
import { countsAsCompletion, decideFire, recordCompletion } from "../services/schedules/firing.js";
import type { MirrorResume, SyncedMirror } from "../services/schedules/kvMirror.js";
import {
  applyMirrorChange,
  emptyMirror,
  type MirrorChange,
  type ScheduleMirror,
} from "../services/schedules/mirror.js";
import {
  dueKeys,
  MAX_TICK_LATENESS_MS,
  type Plans,
  planSchedules,
  tickWaitMs,
} from "../services/schedules/plans.js";
import { isScheduleForMe } from "../services/schedules/targeting.js";
import { completionKey } from "../services/wire/localCompletions.js";
import { formatTimestamp } from "../services/wire/timestamp.js";
import type { LocalCompletions, Manifest, Schedule } from "../services/wire/types.js";

export interface LocalSchedulerInput {
  pcId: string;
  /** Wall clock, epoch ms: cron is evaluated on it (behavior.md 16.3). */
  now: () => number;
}

/** What the scheduler starts from: the files of the data directory (behavior.md 16.1, 16.7). */
export interface LoadedSchedulerState {
  mirror: ScheduleMirror;
  membership: string[] | null;
  completions: LocalCompletions;
}

/** One fire, handed to the `fire` actor, which submits the command and reports FIRE_ENDED. */
export interface FireInput {
  key: string;
  schedule: Schedule;
  manifest: Manifest;
  firedAt: number;
}

/** The run's real result; null when the pipeline did not admit the command. */
export interface FireOutcome {
  exitCode: number;
  finishedAt: number;
}

export type LocalSchedulerEvent =
  | { type: "MIRROR_CHANGED"; change: MirrorChange }
  | { type: "WATCH_ENDED"; reason: string }
  | { type: "RECONNECTED" }
  /** `initial`: the value the membership subject held when the scheduler subscribed. */
  | { type: "MEMBERSHIP_CHANGED"; groups: readonly string[]; initial: boolean }
  | {
      type: "FIRE_ENDED";
      key: string;
      schedule: Schedule;
      outcome: FireOutcome | null;
      error?: string;
    }
  | { type: "STOP" };

type InternalEvent = { type: "REPLANNED" };

export interface LogParams {
  level: "debug" | "info" | "warn" | "error";
  msg: string;
  fields?: Record<string, unknown>;
}

interface LocalSchedulerContext {
  pcId: string;
  now: () => number;
  mirror: ScheduleMirror;
  /** Where the watch resumes after the last successful walk. */
  resume: MirrorResume | null;
  /** null until known (from the cache file or the groups manager); treated as no groups. */
  membership: readonly string[] | null;
  completions: LocalCompletions;
  /** This agent's schedules (16.2) and their next fire instants. */
  plans: Plans;
  /** Schedule keys whose last fire has not finished (no overlap, 16.4). */
  inFlight: ReadonlySet<string>;
  /** The last skip reason logged per schedule, so a repeating skip is logged once. */
  skipNoted: ReadonlyMap<string, string>;
}

const fireId = (key: string): string => `fire:${key}`;

const sameGroups = (a: readonly string[] | null, b: readonly string[]): boolean =>
  a !== null && a.length === b.length && a.every((g, i) => g === b[i]);

function plansFor(
  c: Pick<LocalSchedulerContext, "pcId" | "now">,
  mirror: ScheduleMirror,
  membership: readonly string[] | null,
  keep?: Plans,
): Plans {
  const groups = membership ?? [];
  return planSchedules(mirror.schedules, (s) => isScheduleForMe(s, c.pcId, groups), c.now(), keep);
}

/**
 * The local scheduler (behavior.md §16). Two regions: `mirror` keeps the copy of KV `schedules`
 * and `jobs` (walk, watch, re-walk after a reconnect or 1 s after a watch ends), `clock` waits for
 * the next due tick and fires. It starts from the cached files, so it works without a broker.
 * Commands are not run here: the `fire` actor hands them to the admission pipeline.
 */
export const localSchedulerMachine = setup({
  types: {
    context: {} as LocalSchedulerContext,
    input: {} as LocalSchedulerInput,
    events: {} as LocalSchedulerEvent | InternalEvent,
  },
  actors: {
    loadState: fromPromise<LoadedSchedulerState>(async () => ({
      mirror: emptyMirror(),
      membership: null,
      completions: new Map(),
    })),
    /** One full walk; retries forever inside (behavior.md §3). */
    readMirror: fromPromise<SyncedMirror>(() => new Promise(() => {})),
    /** Sends MIRROR_CHANGED per entry and WATCH_ENDED once when the watch ends on its own. */
    watchMirror: fromCallback<LocalSchedulerEvent, { resume: MirrorResume }>(() => () => {}),
    /** Sends RECONNECTED on every (re)connect. */
    watchReconnects: fromCallback<LocalSchedulerEvent>(() => () => {}),
    /** Sends MEMBERSHIP_CHANGED for the current membership and every later one. */
    watchMembership: fromCallback<LocalSchedulerEvent>(() => () => {}),
    /** Builds and submits the command; sends FIRE_ENDED once its result exists. */
    fire: fromCallback<LocalSchedulerEvent, FireInput>(() => () => {}),
  },
  actions: {
    persistCache: (
      _,
      _params: { mirror: ScheduleMirror; membership: readonly string[] | null },
    ) => {},
    persistCompletions: (_, _params: { completions: LocalCompletions }) => {},
    log: (_, _params: LogParams) => {},
  },
  delays: {
    // behavior.md 3.5: a fixed pause before re-reading after a watch ended.
    resyncPause: 1_000,
    untilNextTick: ({ context }) => tickWaitMs(context.plans, context.now()),
  },
}).createMachine({
  id: "localScheduler",
  context: ({ input }) => ({
    pcId: input.pcId,
    now: input.now,
    mirror: emptyMirror(),
    resume: null,
    membership: null,
    completions: new Map(),
    plans: new Map(),
    inFlight: new Set(),
    skipNoted: new Map(),
  }),
  initial: "loading",
  on: { STOP: ".stopped" },
  states: {
    loading: {
      invoke: {
        src: "loadState",
        onDone: {
          target: "running",
          actions: [
            assign(({ event }) => ({
              mirror: event.output.mirror,
              membership: event.output.membership,
              completions: event.output.completions,
            })),
            {
              type: "log",
              params: ({ event }) => ({
                level: "info",
                msg: "local schedules loaded from the data directory",
                fields: {
                  schedules: event.output.mirror.schedules.size,
                  jobs: event.output.mirror.jobs.size,
                  completions: event.output.completions.size,
                },
              }),
            },
          ],
        },
        onError: {
          target: "running",
          actions: {
            type: "log",
            params: ({ event }) => ({
              level: "error",
              msg: "could not load the local schedule files; starting empty",
              fields: { err: String(event.error) },
            }),
          },
        },
      },
    },
    running: {
      type: "parallel",
      entry: assign(({ context }) => ({
        plans: plansFor(context, context.mirror, context.membership),
      })),
      invoke: [
        {
          src: "watchReconnects",
          onError: {
            actions: {
              type: "log",
              params: ({ event }) => ({
                level: "error",
                msg: "reconnect follower failed",
                fields: { err: String(event.error) },
              }),
            },
          },
        },
        {
          src: "watchMembership",
          onError: {
            actions: {
              type: "log",
              params: ({ event }) => ({
                level: "error",
                msg: "membership follower failed",
                fields: { err: String(event.error) },
              }),
            },
          },
        },
      ],
      on: {
        MIRROR_CHANGED: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const applied = applyMirrorChange(context.mirror, event.change);
            if (applied.refused) {
              enqueue({
                type: "log",
                params: {
                  level: "warn",
                  msg: `${event.change.bucket} key ${event.change.key} ignored: too many keys`,
                  fields: { bucket: event.change.bucket, key: event.change.key },
                },
              });
            }
            if (!applied.changed) return;
            const { mirror } = applied;
            enqueue.assign({
              mirror,
              plans: plansFor(context, mirror, context.membership, context.plans),
            });
            enqueue({ type: "persistCache", params: { mirror, membership: context.membership } });
            enqueue.raise({ type: "REPLANNED" });
          }),
        },
        MEMBERSHIP_CHANGED: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            // The subject starts empty before the groups manager has read anything: until it
            // reports, the cached membership stands, so group schedules fire without a broker.
            if (event.initial && event.groups.length === 0 && context.membership !== null) return;
            if (sameGroups(context.membership, event.groups)) return;
            const membership = [...event.groups];
            enqueue.assign({
              membership,
              plans: plansFor(context, context.mirror, membership, context.plans),
            });
            enqueue({ type: "persistCache", params: { mirror: context.mirror, membership } });
            enqueue.raise({ type: "REPLANNED" });
          }),
        },
        FIRE_ENDED: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const inFlight = new Set(context.inFlight);
            inFlight.delete(event.key);
            enqueue.stopChild(fireId(event.key));
            enqueue.assign({ inFlight });
            const { schedule, outcome } = event;
            const fields = { schedule: schedule.id, job: schedule.jobId };
            if (outcome === null) {
              enqueue({
                type: "log",
                params: event.error
                  ? {
                      level: "error",
                      msg: "schedule fire failed",
                      fields: { ...fields, err: event.error },
                    }
                  : { level: "info", msg: "schedule fire was not admitted", fields },
              });
              return;
            }
            enqueue({
              type: "log",
              params: {
                level: "info",
                msg: "schedule run finished",
                fields: { ...fields, exit_code: outcome.exitCode },
              },
            });
            if (!countsAsCompletion(schedule.mode, outcome.exitCode)) return;
            const completions = recordCompletion(
              context.completions,
              completionKey(schedule.id, schedule.jobId),
              outcome.finishedAt,
            );
            enqueue.assign({ completions });
            enqueue({ type: "persistCompletions", params: { completions } });
          }),
        },
      },
      states: {
        mirror: {
          initial: "syncing",
          states: {
            syncing: {
              invoke: {
                src: "readMirror",
                onDone: {
                  target: "watching",
                  actions: enqueueActions(({ context, event, enqueue }) => {
                    const { mirror, resume } = event.output;
                    const plans = plansFor(context, mirror, context.membership, context.plans);
                    enqueue.assign({ mirror, resume, plans });
                    enqueue({
                      type: "persistCache",
                      params: { mirror, membership: context.membership },
                    });
                    enqueue.raise({ type: "REPLANNED" });
                    enqueue({
                      type: "log",
                      params: {
                        level: "info",
                        msg: "local schedules synced",
                        fields: {
                          agent_schedules: mirror.schedules.size,
                          mine: plans.size,
                          jobs: mirror.jobs.size,
                        },
                      },
                    });
                  }),
                },
                onError: {
                  target: "pausing",
                  actions: {
                    type: "log",
                    params: ({ event }) => ({
                      level: "warn",
                      msg: "reading schedules and jobs failed",
                      fields: { err: String(event.error) },
                    }),
                  },
                },
              },
            },
            watching: {
              invoke: {
                src: "watchMirror",
                input: ({ context }) => ({ resume: context.resume! }),
                onError: {
                  target: "pausing",
                  actions: {
                    type: "log",
                    params: ({ event }) => ({
                      level: "warn",
                      msg: "schedule watch failed; reading again",
                      fields: { err: String(event.error) },
                    }),
                  },
                },
              },
              on: {
                WATCH_ENDED: {
                  target: "pausing",
                  actions: {
                    type: "log",
                    params: ({ event }) => ({
                      level: "warn",
                      msg: "schedule watch ended; reading again",
                      fields: { reason: event.reason },
                    }),
                  },
                },
                // behavior.md 16.1: a full re-read after every reconnect.
                RECONNECTED: "syncing",
              },
            },
            pausing: {
              after: { resyncPause: "syncing" },
              on: { RECONNECTED: "syncing" },
            },
          },
        },
        clock: {
          initial: "waiting",
          states: {
            waiting: {
              // A changed plan may be earlier than the running timer: wait afresh. (Handled
              // here, not on `clock`: re-entering from there would re-enter the whole
              // parallel state and restart the mirror region.)
              on: { REPLANNED: { target: "waiting", reenter: true } },
              after: {
                untilNextTick: {
                  target: "waiting",
                  reenter: true,
                  actions: enqueueActions(({ context, enqueue }) => {
                    const now = context.now();
                    const inFlight = new Set(context.inFlight);
                    const skipNoted = new Map(
                      [...context.skipNoted].filter(([k]) => context.mirror.schedules.has(k)),
                    );
                    for (const key of dueKeys(context.plans, now)) {
                      const entry = context.mirror.schedules.get(key);
                      const plan = context.plans.get(key);
                      if (entry === undefined || plan === undefined) continue;
                      const { schedule } = entry;
                      const fields = { schedule: schedule.id, job: schedule.jobId };
                      // Ticks missed while the agent was not running (or the machine slept)
                      // are not caught up (16.4).
                      if (now - plan.at > MAX_TICK_LATENESS_MS) {
                        enqueue({
                          type: "log",
                          params: {
                            level: "info",
                            msg: "schedule tick missed",
                            fields: { ...fields, due_at: formatTimestamp(plan.at) },
                          },
                        });
                        continue;
                      }
                      const decision = decideFire(key, schedule, {
                        jobs: context.mirror.jobs,
                        inFlight,
                        completions: context.completions,
                        now,
                      });
                      if (!decision.fire) {
                        if (skipNoted.get(key) !== decision.reason) {
                          skipNoted.set(key, decision.reason);
                          enqueue({
                            type: "log",
                            params: {
                              level: "info",
                              msg: `schedule tick skipped: ${decision.reason}`,
                              fields: { ...fields, reason: decision.reason },
                            },
                          });
                        }
                        continue;
                      }
                      skipNoted.delete(key);
                      inFlight.add(key);
                      enqueue.spawnChild("fire", {
                        id: fireId(key),
                        input: { key, schedule, manifest: decision.manifest, firedAt: now },
                      });
                      enqueue({
                        type: "log",
                        params: { level: "info", msg: "schedule fired", fields },
                      });
                    }
                    // Planned from now: whatever was missed is not caught up, and a wall-clock
                    // jump back is corrected here.
                    enqueue.assign({
                      inFlight,
                      skipNoted,
                      plans: plansFor(context, context.mirror, context.membership),
                    });
                  }),
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
