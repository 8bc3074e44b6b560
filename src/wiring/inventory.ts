import { distinctUntilChanged, map } from "rxjs";
import { fromCallback, fromPromise } from "xstate";
import {
  type InventoryCollection,
  type InventoryEvent,
  type InventorySettings,
  inventoryMachine,
  jitteredFirstDelay,
  type PublishDone,
} from "../machines/inventory.machine.js";
import type { AgentContext } from "../services/agentContext.js";
import {
  InventoryCollector,
  type InventoryCollectorOptions,
} from "../services/inventory/collect.js";
import { prepareInventory } from "../services/inventory/fit.js";
import { InventoryPublisher } from "../services/inventory/publish.js";
import { serveInventoryRequests } from "../services/inventory/responder.js";
import { INVENTORY_CACHE_MAX_AGE_MS, InventorySource } from "../services/inventory/source.js";
import { errorText } from "../services/nats/retry.js";
import { interpretEffectiveConfig } from "../services/wire/effectiveSettings.js";
import type { EffectiveConfig } from "../services/wire/types.js";

/** What the inventory needs from the daemon. */
export type InventoryDeps = Pick<
  AgentContext,
  "pcId" | "agentVersion" | "platform" | "log" | "clock" | "random" | "link" | "config$"
>;

/** Knobs for tests and benchmarks; production uses the defaults of behavior.md §0. */
export interface InventoryWiringOptions
  extends Pick<
    InventoryCollectorOptions,
    "collectors" | "callTimeoutMs" | "totalTimeoutMs" | "concurrency" | "env" | "runtime" | "shell"
  > {
  cacheMaxAgeMs?: number;
  ackTimeoutMs?: number;
}

/**
 * The inventory machine with its real effects; the root invokes it as it is. It follows
 * `ctx.config$` by itself and needs no events from the root.
 */
export function inventoryActor(ctx: InventoryDeps, opts: InventoryWiringOptions = {}) {
  const log = ctx.log.child({ subsystem: "inventory" });
  const collector = new InventoryCollector({
    pcId: ctx.pcId,
    agentVersion: ctx.agentVersion,
    platform: ctx.platform,
    clock: ctx.clock,
    log,
    collectors: opts.collectors,
    callTimeoutMs: opts.callTimeoutMs,
    totalTimeoutMs: opts.totalTimeoutMs,
    concurrency: opts.concurrency,
    env: opts.env,
    runtime: opts.runtime,
    shell: opts.shell,
  });
  const publisher = new InventoryPublisher({
    link: ctx.link,
    pcId: ctx.pcId,
    log,
    random: ctx.random,
    ackTimeoutMs: opts.ackTimeoutMs,
  });
  const source = new InventorySource({
    collect: () => collector.collect(),
    prepare: (inv) => {
      const prepared = prepareInventory(inv, publisher.maxPayload());
      if (prepared.dropped.length > 0 || prepared.oversize) {
        log.warn(
          { left_out: prepared.dropped, bytes: prepared.bytes.length, oversize: prepared.oversize },
          "inventory: sections left out to fit the broker's max_payload",
        );
      }
      return prepared;
    },
    clock: ctx.clock,
  });

  return inventoryMachine.provide({
    actors: {
      watchConfig: fromCallback<InventoryEvent>(({ sendBack }) => {
        const sub = ctx.config$
          .pipe(map(settingsOf), distinctUntilChanged(sameSettings))
          .subscribe((settings) => sendBack({ type: "CONFIG", settings }));
        return () => sub.unsubscribe();
      }),
      serveRequests: fromCallback<InventoryEvent>(() =>
        serveInventoryRequests({
          link: ctx.link,
          pcId: ctx.pcId,
          log,
          current: async () =>
            (await source.current(opts.cacheMaxAgeMs ?? INVENTORY_CACHE_MAX_AGE_MS)).bytes,
        }),
      ),
      collect: fromPromise<InventoryCollection>(async () => {
        const c = await source.collect();
        return { hash: c.hash, at: c.at, payload: c.bytes };
      }),
      publish: fromPromise<PublishDone, InventoryCollection>(async ({ input, signal }) => {
        await publisher.publish(input.payload, signal);
        return { at: ctx.clock.monotonic() };
      }),
    },
    actions: {
      noteSkipped: () => log.info("inventory: collection due while one runs, skipped"),
      noteUnchanged: (_, p) =>
        log.debug({ content_hash: p.hash }, "inventory unchanged, not published"),
      notePublished: (_, p) => log.info({ content_hash: p.hash }, "inventory published"),
      noteFailure: (_, p) => log.warn({ err: errorText(p.error) }, `inventory ${p.what} failed`),
    },
    delays: {
      firstDelay: jitteredFirstDelay(ctx.random),
    },
  });
}

function settingsOf(config: EffectiveConfig): InventorySettings {
  // The CPU count only matters for the concurrency limit, which is not used here.
  const s = interpretEffectiveConfig(config, 1);
  return {
    enabled: s.inventoryEnabled,
    jitterMs: s.inventoryJitterMs,
    checkIntervalMs: s.inventoryCheckIntervalMs,
    intervalMs: s.inventoryIntervalMs,
  };
}

function sameSettings(a: InventorySettings, b: InventorySettings): boolean {
  return (
    a.enabled === b.enabled &&
    a.jitterMs === b.jitterMs &&
    a.checkIntervalMs === b.checkIntervalMs &&
    a.intervalMs === b.intervalMs
  );
}
