import { randomUUID } from "node:crypto";
import { fromCallback, fromPromise } from "xstate";
import {
  type FireInput,
  type FireOutcome,
  type LocalSchedulerEvent,
  type LocalSchedulerInput,
  localSchedulerMachine,
} from "../machines/localScheduler.machine.js";
import type { AgentContext } from "../services/agentContext.js";
import { errorText, retryForever } from "../services/nats/retry.js";
import { buildScheduledCommand } from "../services/schedules/command.js";
import { type MirrorResume, readMirror, watchMirror } from "../services/schedules/kvMirror.js";
import { LatestWriter } from "../services/schedules/latestWriter.js";
import {
  completionsText,
  loadCompletions,
  loadLocalSchedules,
  localSchedulesText,
} from "../services/schedules/stateFiles.js";
import type { Command } from "../services/wire/types.js";

/** What the admission pipeline is told about a local fire besides the command itself. */
export interface ScheduledFireMeta {
  scheduleId: string;
  jobId: string;
  /** Set when the job cannot run here: the pipeline gives exit 122 `rejected: <rejection>`. */
  rejection?: string;
}

/**
 * The lead's admission pipeline (behavior.md 16.5: the command enters at the ledger step, source
 * `local`). Resolves once the run's result exists with its real exit code, or null when the
 * command was not admitted.
 */
export type SubmitScheduled = (
  cmd: Command,
  meta: ScheduledFireMeta,
) => Promise<FireOutcome | null>;

export type LocalSchedulerDeps = Pick<
  AgentContext,
  "pcId" | "clock" | "random" | "link" | "log" | "layout" | "membership$"
>;

/** behavior.md 3.2: before an attempt, wait for a connection at most this long. */
const CONNECTION_WAIT_MS = 5_000;

/** The input to spawn the scheduler with. */
export const localSchedulerInput = (
  ctx: Pick<AgentContext, "pcId" | "clock">,
): LocalSchedulerInput => ({
  pcId: ctx.pcId,
  now: () => ctx.clock.now(),
});

/**
 * The local scheduler chart (behavior.md §16) with the real services. Spawn it with
 * `input: localSchedulerInput(ctx)`; it needs no events (it follows `link.woken$` and
 * `membership$` itself) and works without a broker from the cached files. Stop it with `STOP`
 * or with its parent; runs already submitted are the pipeline's.
 */
export function localSchedulerActor(ctx: LocalSchedulerDeps, submit: SubmitScheduled) {
  const log = ctx.log.child({ component: "local_scheduler" });
  const cacheFile = new LatestWriter(ctx.layout.localSchedules, log);
  const completionsFile = new LatestWriter(ctx.layout.localCompletions, log);

  return localSchedulerMachine.provide({
    actors: {
      loadState: fromPromise(async () => {
        const cached = await loadLocalSchedules(ctx.layout.localSchedules, log);
        const completions = await loadCompletions(ctx.layout.localCompletions, log);
        return { ...cached, completions };
      }),
      readMirror: fromPromise(async ({ signal }) =>
        retryForever(
          async () => {
            const nc = (await ctx.link.waitConnected(CONNECTION_WAIT_MS)) ?? ctx.link.connection;
            if (!nc) throw new Error("not connected to the broker");
            return readMirror(nc, log, { signal });
          },
          {
            what: "kv schedules and jobs",
            log,
            random: ctx.random,
            wake$: ctx.link.woken$,
            signal,
          },
        ),
      ),
      watchMirror: fromCallback<LocalSchedulerEvent, { resume: MirrorResume }>(
        ({ input, sendBack }) =>
          watchMirror(
            input.resume,
            log,
            (change) => sendBack({ type: "MIRROR_CHANGED", change }),
            (reason) => sendBack({ type: "WATCH_ENDED", reason }),
          ),
      ),
      watchReconnects: fromCallback<LocalSchedulerEvent>(({ sendBack }) => {
        const sub = ctx.link.woken$.subscribe(() => sendBack({ type: "RECONNECTED" }));
        return () => sub.unsubscribe();
      }),
      watchMembership: fromCallback<LocalSchedulerEvent>(({ sendBack }) => {
        // A BehaviorSubject replays its current value during subscribe().
        let initial = true;
        const sub = ctx.membership$.subscribe((groups) =>
          sendBack({ type: "MEMBERSHIP_CHANGED", groups, initial }),
        );
        initial = false;
        return () => sub.unsubscribe();
      }),
      fire: fromCallback<LocalSchedulerEvent, FireInput>(({ input, sendBack }) => {
        let stopped = false;
        const { schedule, manifest, key } = input;
        const built = buildScheduledCommand(schedule, manifest, () => randomUUID());
        const meta: ScheduledFireMeta = { scheduleId: schedule.id, jobId: schedule.jobId };
        if (built.rejection !== undefined) meta.rejection = built.rejection;
        log.info(
          {
            schedule: schedule.id,
            job: schedule.jobId,
            request_id: built.command.requestId,
            exec_id: built.command.execId,
          },
          "submitting scheduled command",
        );
        const ended = (outcome: FireOutcome | null, error?: string) => {
          if (stopped) return;
          sendBack(
            error === undefined
              ? { type: "FIRE_ENDED", key, schedule, outcome }
              : { type: "FIRE_ENDED", key, schedule, outcome, error },
          );
        };
        // Through a promise, so that a submit that throws synchronously is a failed fire too.
        Promise.resolve()
          .then(() => submit(built.command, meta))
          .then(
            (outcome) => ended(outcome),
            (err: unknown) => ended(null, errorText(err)),
          );
        return () => {
          stopped = true;
        };
      }),
    },
    actions: {
      persistCache: (_, { mirror, membership }) =>
        cacheFile.write(localSchedulesText(mirror, membership)),
      persistCompletions: (_, { completions }) =>
        completionsFile.write(completionsText(completions)),
      log: (_, { level, msg, fields }) => log[level](fields ?? {}, msg),
    },
  });
}
