import { unlink } from "node:fs/promises";
import { Objm } from "@nats-io/obj";
import { distinctUntilChanged, map } from "rxjs";
import { fromCallback, fromPromise } from "xstate";
import {
  DOWNLOAD_RETRY_GAPS_MS,
  DOWNLOAD_RETRY_LATER_MS,
  jitteredDelay,
  type SelfUpdateEvent,
  type SelfUpdateFacts,
  type SelfUpdateWork,
  selfUpdateMachine,
} from "../machines/selfUpdate.machine.js";
import type { AgentContext } from "../services/agentContext.js";
import { errorText, retryForever } from "../services/nats/retry.js";
import { OBJ_AGENT_RELEASES } from "../services/nats/subjects.js";
import { downloadRelease } from "../services/selfupdate/download.js";
import { EXIT_RESTART } from "../services/selfupdate/health.js";
import { downloadPath, stagingLayout } from "../services/selfupdate/stagingLayout.js";
import { type CommandGate, swapToRelease } from "../services/selfupdate/swap.js";
import { type UnpackLimits, unpackRelease } from "../services/selfupdate/unpack.js";
import { interpretEffectiveConfig } from "../services/wire/effectiveSettings.js";
import type { EffectiveConfig } from "../services/wire/types.js";

/** What the self-updater needs from the daemon. */
export type SelfUpdateDeps = Pick<
  AgentContext,
  | "agentVersion"
  | "layout"
  | "log"
  | "clock"
  | "random"
  | "link"
  | "config$"
  | "quarantinedVersions"
>;

export interface SelfUpdateHooks {
  /** Hold/resume launches and count running children (behavior.md 15.7). */
  commands: CommandGate;
  /** Runs the graceful stop sequence (§18) and exits the process with `code` (64). */
  requestRestart: (code: typeof EXIT_RESTART) => void;
}

/** Knobs for tests; production uses the limits of behavior.md §0. */
export interface SelfUpdateOptions {
  maxBytes?: number;
  swapWaitMs?: number;
  stallMs?: number;
  unpackLimits?: UnpackLimits;
}

/** behavior.md 3.2: before an attempt, wait for a connection at most 5 s. */
const CONNECT_WAIT_MS = 5_000;

/**
 * The self-update machine with its real effects. The root invokes it as it is: it follows
 * `ctx.config$` by itself and takes the quarantine list from `ctx.quarantinedVersions()`.
 */
export function selfUpdateActor(
  ctx: SelfUpdateDeps,
  hooks: SelfUpdateHooks,
  opts: SelfUpdateOptions = {},
) {
  const log = ctx.log.child({ subsystem: "selfupdate" });
  const staging = stagingLayout(ctx.layout.staging);

  const openStore = async () => {
    const nc = await ctx.link.waitConnected(CONNECT_WAIT_MS);
    if (!nc) throw new Error("not connected");
    // `open` checks that the store exists and never creates it (wire.md §8).
    return new Objm(nc).open(OBJ_AGENT_RELEASES);
  };

  return selfUpdateMachine.provide({
    actors: {
      loadFacts: fromPromise<SelfUpdateFacts>(async () => ({
        running: ctx.agentVersion,
        quarantined: [...ctx.quarantinedVersions()],
      })),
      watchConfig: fromCallback<SelfUpdateEvent>(({ sendBack }) => {
        const sub = ctx.config$
          .pipe(
            map(targetOf),
            distinctUntilChanged((a, b) => a.target === b.target && a.jitterMs === b.jitterMs),
          )
          .subscribe((t) => sendBack({ type: "TARGET", ...t }));
        return () => sub.unsubscribe();
      }),
      waitStore: fromPromise<void, SelfUpdateWork>(async ({ signal }) => {
        await retryForever(openStore, {
          what: `object store ${OBJ_AGENT_RELEASES}`,
          log,
          random: ctx.random,
          wake$: ctx.link.woken$,
          signal,
        });
      }),
      download: fromPromise<void, SelfUpdateWork>(async ({ input, signal }) => {
        const store = await openStore();
        await downloadRelease({
          store,
          staging,
          version: input.version,
          log,
          clock: ctx.clock,
          maxBytes: opts.maxBytes,
          stallMs: opts.stallMs,
          signal,
        });
      }),
      unpack: fromPromise<void, SelfUpdateWork>(async ({ input }) => {
        const archive = downloadPath(staging, input.version);
        try {
          const { dir } = await unpackRelease({
            staging,
            archive,
            version: input.version,
            limits: opts.unpackLimits,
          });
          log.info({ version: input.version, dir }, "release unpacked and checked");
        } finally {
          await unlink(archive).catch(() => {});
        }
      }),
      swap: fromPromise<void, SelfUpdateWork>(async ({ input, signal }) => {
        await swapToRelease({
          staging,
          gate: hooks.commands,
          version: input.version,
          clock: ctx.clock,
          log,
          maxWaitMs: opts.swapWaitMs,
          signal,
        });
      }),
    },
    actions: {
      requestRestart: (_, p) => {
        log.info(
          { version: p.version, running: ctx.agentVersion, exit_code: EXIT_RESTART },
          "release staged; restarting to run it",
        );
        hooks.requestRestart(EXIT_RESTART);
      },
      noteDeciding: (_, p) =>
        log.info(
          { version: p.version, running: ctx.agentVersion, jitter_ms: p.jitterMs },
          "self-update to target_version",
        ),
      noteTargetChanged: (_, p) =>
        log.info({ from: p.from, to: p.to }, "target_version changed; deciding again"),
      noteQuarantined: (_, p) =>
        log.warn(
          { version: p.version },
          "target_version is quarantined (rolled back earlier); not updating — publish a fixed release under a new version",
        ),
      noteRefused: (_, p) =>
        log.error(
          { version: p.version, reason: p.reason },
          "release refused; not retried until target_version changes or the agent restarts",
        ),
      noteRetry: (_, p) =>
        log.warn(
          {
            version: p.version,
            failures: p.failures,
            retry_in_ms: DOWNLOAD_RETRY_GAPS_MS[p.failures - 1] ?? DOWNLOAD_RETRY_LATER_MS,
            err: errorText(p.error),
          },
          "release download failed; will retry",
        ),
      noteFailed: (_, p) => log.error({ err: errorText(p.error) }, `self-update: ${p.what} failed`),
      noteStaged: (_, p) => log.info({ version: p.version }, "release ready; swapping"),
    },
    delays: { jitterDelay: jitteredDelay(ctx.random) },
  });
}

function targetOf(c: EffectiveConfig): { target: string | null; jitterMs: number } {
  const s = interpretEffectiveConfig(c, 1);
  // An emptied field means "no rollout", not a version named "".
  const target = s.targetVersion === "" ? null : s.targetVersion;
  return { target, jitterMs: s.targetVersionJitterMs };
}
