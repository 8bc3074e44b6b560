import type { Subscription } from "rxjs";
import { fromCallback, fromPromise } from "xstate";
import { configSupervisorMachine } from "../machines/configSupervisor.machine.js";
import type { AgentContext } from "../services/agentContext.js";
import { type OpenBucket, waitForBucket } from "../services/kv/bucket.js";
import { toConfigEntry } from "../services/kv/configMirror.js";
import { readConfigSnapshot } from "../services/kv/configSync.js";
import { WarnThrottle } from "../services/kv/warnThrottle.js";
import { followKv } from "../services/kv/watch.js";
import { backoffMs } from "../services/nats/retry.js";
import { configPcKey, KV_AGENT_CONFIG } from "../services/nats/subjects.js";
import { encodeEffectiveConfig } from "../services/wire/configScope.js";
import { membershipKnown } from "./groups.js";

/** What the config supervisor needs of the agent. */
export type ConfigSupervisorDeps = Pick<
  AgentContext,
  "pcId" | "pcIdKvSafe" | "link" | "log" | "clock" | "random" | "config$" | "membership$"
>;

/**
 * The config supervisor chart with its real effects: `agent_config` → `ctx.config$`, resolved
 * with `ctx.membership$`. Invoke it from the root; it stops on `STOP` (or when the root stops it).
 * Nothing is published before the groups manager (`groupsActor`, same ctx) has read the
 * membership once (`membershipKnown`), so both must run.
 * Optional input `{ cpus }`: the default of `max_local_concurrent`, which must be the one
 * `ctx.config$` started with (the machine's CPU count when absent).
 */
export function configSupervisorActor(ctx: ConfigSupervisorDeps) {
  const log = ctx.log.child({ component: "config" });
  // behavior.md 1.6: a pc_id that cannot be a KV key has no pcs.<pc_id> scope.
  const pcKey = ctx.pcIdKvSafe ? configPcKey(ctx.pcId) : null;
  // The bucket the last full sync read; the watch that follows uses the same connection.
  let synced: OpenBucket | null = null;
  const syncWarnings = new WarnThrottle(() => ctx.clock.monotonic());
  const watchWarnings = new WarnThrottle(() => ctx.clock.monotonic());

  return configSupervisorMachine.provide({
    actors: {
      fullSync: fromPromise(async ({ signal }) => {
        const bucket = await waitForBucket(KV_AGENT_CONFIG, {
          link: ctx.link,
          log,
          random: ctx.random,
          signal,
        });
        const snapshot = await readConfigSnapshot(bucket, pcKey, { signal });
        synced = bucket;
        return snapshot;
      }),
      watch: fromCallback(({ sendBack, input }) =>
        followKv(
          synced,
          { key: ">", fromRevision: input.fromRevision },
          (raw) => {
            const entry = toConfigEntry(raw, pcKey);
            if (entry) sendBack({ type: "CONFIG_ENTRY", entry });
          },
          ({ reason, opened }) => sendBack({ type: "WATCH_ENDED", reason, opened }),
        ),
      ),
      membership: fromCallback(({ sendBack }) => {
        let sub: Subscription | undefined;
        let live = true;
        void membershipKnown(ctx).then(() => {
          if (!live) return;
          sub = ctx.membership$.subscribe((groups) =>
            sendBack({ type: "MEMBERSHIP_CHANGED", groups }),
          );
        });
        return () => {
          live = false;
          sub?.unsubscribe();
        };
      }),
      reconnects: fromCallback(({ sendBack }) => {
        const sub = ctx.link.woken$.subscribe(() => sendBack({ type: "RECONNECTED" }));
        return () => sub.unsubscribe();
      }),
    },
    actions: {
      publishConfig: (_, { config, changed, conflicts }) => {
        const values = encodeEffectiveConfig(config);
        const shown = Object.fromEntries(changed.map((field) => [field, values[field]]));
        log.info({ changed: shown }, "effective config changed");
        for (const { field, groups } of conflicts)
          log.warn(
            { field, groups, winner: groups.at(-1) },
            `config member ${field} is set by several groups; the last in byte order wins`,
          );
        // Subscribers drive their own actors: let them run after this transition (FIFO).
        queueMicrotask(() => ctx.config$.next(config));
      },
      warnMalformed: (_, { key, problem }) =>
        log.warn({ key, problem }, `${KV_AGENT_CONFIG} ${key}: malformed value ignored`),
      reportSynced: (_, { keys }) => {
        syncWarnings.succeeded();
        log.debug({ keys }, `${KV_AGENT_CONFIG} synced`);
      },
      reportSyncFailure: (_, { error }) => {
        const level = syncWarnings.shouldWarn() ? "warn" : "debug";
        log[level]({ err: error }, `${KV_AGENT_CONFIG} sync failed; retrying in 1 s`);
      },
      reportWatchEnd: (_, { reason, failures }) => {
        if (failures === 0) watchWarnings.succeeded();
        const level = watchWarnings.shouldWarn() ? "warn" : "debug";
        log[level]({ reason, failures }, `${KV_AGENT_CONFIG} watch ended; syncing again`);
      },
    },
    delays: {
      rewatchPause: ({ context }) =>
        context.watchFailures === 0 ? 1_000 : backoffMs(context.watchFailures, ctx.random),
    },
  });
}
