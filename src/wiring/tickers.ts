import { availableParallelism } from "node:os";
import { distinctUntilChanged, map } from "rxjs";
import { fromCallback, fromPromise } from "xstate";
import {
  type TickerEvent,
  type TickInput,
  type TickReason,
  type TickSkipReason,
  tickerMachine,
} from "../machines/ticker.machine.js";
import type { AgentContext } from "../services/agentContext.js";
import {
  heartbeatSubject,
  hostPerfSubject,
  processPerfSubject,
} from "../services/nats/subjects.js";
import { AgentSelfSampler } from "../services/perf/agentSelf.js";
import { publishWhileConnected } from "../services/perf/corePublish.js";
import { firstTickSpreadMs } from "../services/perf/firstTickSpread.js";
import { HeartbeatSource } from "../services/perf/heartbeat.js";
import { hostCounterReader } from "../services/perf/hostCounters.js";
import { readHostIdentity } from "../services/perf/hostIdentity.js";
import { HostPerfSampler } from "../services/perf/hostPerf.js";
import { ProcessPerfSampler } from "../services/perf/processPerf.js";
import { linuxProcessTable, portableProcessTable } from "../services/perf/processTable.js";
import {
  interpretEffectiveConfig,
  isProcessPerfActive,
} from "../services/wire/effectiveSettings.js";
import { encodeHeartbeat } from "../services/wire/heartbeat.js";
import { encodeHostPerf } from "../services/wire/hostPerf.js";
import { encodeProcessPerf } from "../services/wire/processPerf.js";
import type { EffectiveConfig } from "../services/wire/types.js";

export type TickerContext = Pick<
  AgentContext,
  | "pcId"
  | "agentVersion"
  | "platform"
  | "clock"
  | "link"
  | "log"
  | "config$"
  | "quarantinedVersions"
  | "heartbeatSent"
>;

/** Tick failures: the first one is a warning, then at most one warning per this long. */
const FAILURE_WARN_EVERY_MS = 5 * 60_000;

interface TickerSpec {
  /** For the log and as the salt of the first-tick spread. */
  name: string;
  spreadSalt: string;
  intervalOf: (c: EffectiveConfig) => number;
  tick: (input: TickInput) => Promise<void>;
}

const heartbeatInterval = (c: EffectiveConfig) =>
  interpretEffectiveConfig(c, 1).heartbeatIntervalMs;
const hostPerfInterval = (c: EffectiveConfig) => interpretEffectiveConfig(c, 1).hostPerfIntervalMs;

/**
 * The heartbeat ticker (behavior.md 12.1–12.3) on `heartbeat_interval`. Invoke it from the root
 * with no input and no events: it follows `config$` and `link.woken$` by itself; send it `STOP`
 * or stop it with its parent.
 */
export function heartbeatTicker(ctx: TickerContext) {
  const source = new HeartbeatSource({
    pcId: ctx.pcId,
    agentVersion: ctx.agentVersion,
    clock: ctx.clock,
    identity: readHostIdentity(ctx.platform),
    quarantinedVersions: ctx.quarantinedVersions,
    self: new AgentSelfSampler(ctx.clock),
  });
  const subject = heartbeatSubject(ctx.pcId);
  return tickerFor(ctx, {
    name: "heartbeat",
    spreadSalt: "heartbeat",
    intervalOf: heartbeatInterval,
    tick: async () => {
      if (!ctx.link.isConnected) return;
      if (publishWhileConnected(ctx.link, subject, encodeHeartbeat(source.beat())))
        ctx.heartbeatSent?.();
    },
  });
}

/** The host perf ticker (behavior.md 12.4) on `host_perf_interval`; used like `heartbeatTicker`. */
export function hostPerfTicker(ctx: TickerContext) {
  const sampler = new HostPerfSampler(ctx.pcId, ctx.clock, hostCounterReader(ctx.platform));
  const subject = hostPerfSubject(ctx.pcId);
  return tickerFor(ctx, {
    name: "host_perf",
    spreadSalt: "perf",
    intervalOf: hostPerfInterval,
    tick: async ({ intervalMs }) => {
      const perf = await sampler.sample(intervalMs);
      publishWhileConnected(ctx.link, subject, encodeHostPerf(perf));
    },
  });
}

/**
 * The process perf ticker (behavior.md 12.5). It beats with host perf (same interval, same
 * first-tick spread) and does its work only while process perf is active; turning inactive
 * drops the baseline, so turning active again starts with a sample-only tick.
 */
export function processPerfTicker(ctx: TickerContext) {
  const table =
    ctx.platform === "linux"
      ? linuxProcessTable()
      : portableProcessTable(ctx.platform, availableParallelism());
  const sampler = new ProcessPerfSampler(ctx.pcId, ctx.clock, table);
  const subject = processPerfSubject(ctx.pcId);
  return tickerFor(ctx, {
    name: "process_perf",
    spreadSalt: "perf",
    intervalOf: hostPerfInterval,
    tick: async ({ intervalMs }) => {
      const config = ctx.config$.value;
      if (!isProcessPerfActive(config, ctx.clock.now())) {
        sampler.reset();
        return;
      }
      const topN = interpretEffectiveConfig(config, 1).processPerfTopN;
      const perf = await sampler.sample(topN, intervalMs);
      if (perf !== null) publishWhileConnected(ctx.link, subject, encodeProcessPerf(perf));
    },
  });
}

function tickerFor(ctx: TickerContext, spec: TickerSpec) {
  const log = ctx.log.child({ component: spec.name });
  let lastWarnAt = Number.NEGATIVE_INFINITY;
  return tickerMachine.provide({
    actors: {
      follow: fromCallback<TickerEvent>(({ sendBack }) => {
        const interval = ctx.config$
          .pipe(map(spec.intervalOf), distinctUntilChanged())
          .subscribe((intervalMs) => sendBack({ type: "INTERVAL_CHANGED", intervalMs }));
        const woken = ctx.link.woken$.subscribe(() => sendBack({ type: "RECONNECTED" }));
        return () => {
          interval.unsubscribe();
          woken.unsubscribe();
        };
      }),
      tick: fromPromise<void, TickInput>(({ input }) => spec.tick(input)),
    },
    guards: {
      connected: () => ctx.link.isConnected,
    },
    actions: {
      reportSkip: (_, p: { reason: TickReason; why: TickSkipReason }) =>
        log.debug({ reason: p.reason, why: p.why }, `${spec.name} tick skipped`),
      reportFailure: (_, p: { reason: TickReason; error: unknown }) => {
        const now = ctx.clock.monotonic();
        const fields = { reason: p.reason, err: errorText(p.error) };
        if (now - lastWarnAt >= FAILURE_WARN_EVERY_MS) {
          lastWarnAt = now;
          log.warn(fields, `${spec.name} tick failed`);
        } else {
          log.debug(fields, `${spec.name} tick failed`);
        }
      },
    },
    delays: {
      spread: ({ context }) =>
        firstTickSpreadMs(ctx.pcId, spec.spreadSalt, context.intervalMs ?? 0),
    },
  });
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
