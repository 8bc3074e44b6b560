import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { BehaviorSubject } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import { createActor } from "xstate";
import type { Collectors } from "../../../src/services/inventory/collectors.js";
import { createLogger } from "../../../src/services/logging/logger.js";
import { NatsLink } from "../../../src/services/nats/link.js";
import { bootstrapKanade } from "../../../src/services/nats/resources.js";
import {
  inventoryRequestSubject,
  inventorySubject,
  STREAM_INVENTORY,
} from "../../../src/services/nats/subjects.js";
import { systemClock } from "../../../src/services/time/clock.js";
import { defaultEffectiveConfig } from "../../../src/services/wire/configScope.js";
import { decodeHwInventory, inventoryContentHash } from "../../../src/services/wire/hwInventory.js";
import type { EffectiveConfig, HwInventory } from "../../../src/services/wire/types.js";
import { type InventoryWiringOptions, inventoryActor } from "../../../src/wiring/inventory.js";
import { NatsServer } from "../../helpers/natsServer.js";
import { collect, waitFor } from "../../helpers/waitFor.js";
import { fakeCollectors } from "../../unit/inventory/fakeHost.js";

type Line = Record<string, unknown> & { msg: string; level: string };

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

let n = 0;

async function setup(
  opts: InventoryWiringOptions & {
    bootstrap?: boolean;
    /** Subscribe to the inventory subject (default true); a subscriber answers "no responders". */
    listen?: boolean;
    checkIntervalMs?: number;
    config?: Partial<EffectiveConfig>;
  } = {},
) {
  const pcId = `PC-INV-${process.pid}-${++n}`;
  const server = await NatsServer.start();
  cleanups.push(() => server.stop());
  const admin = await connect({ servers: server.url });
  cleanups.push(() => admin.close());
  if (opts.bootstrap ?? true) await bootstrapKanade(admin);
  const nc = await connect({ servers: server.url });
  cleanups.push(() => nc.close());
  const link = new NatsLink();
  link.attach(nc);

  const lines: Line[] = [];
  const log = createLogger({
    level: "debug",
    destination: { write: (s: string) => void lines.push(JSON.parse(s) as Line) },
  });
  const config: EffectiveConfig = {
    ...defaultEffectiveConfig(2),
    inventoryJitter: "0s",
    ...opts.config,
  };
  const config$ = new BehaviorSubject(config);
  let machine = inventoryActor(
    {
      pcId,
      agentVersion: "9.9.9-test",
      platform: process.platform,
      log,
      clock: systemClock,
      random: () => 0,
      link,
      config$,
    },
    opts,
  );
  if (opts.checkIntervalMs !== undefined) {
    machine = machine.provide({ delays: { checkInterval: opts.checkIntervalMs } });
  }
  const published = collect(admin, inventorySubject(pcId));
  if (opts.listen === false) published.stop();
  await admin.flush();
  const actor = createActor(machine).start();
  cleanups.push(() => {
    actor.stop();
  });
  // The request subscription is on the server before a test asks.
  await nc.flush();
  return { pcId, server, admin, nc, link, lines, published, actor };
}

function decoded(data: unknown): HwInventory {
  const d = decodeHwInventory(data);
  if (!d.ok) throw new Error(`payload does not decode: ${d.error.message}`);
  return d.value;
}

const hasLine = (lines: Line[], msg: string) => lines.some((l) => l.msg === msg);

describe("built-in inventory against a real broker", () => {
  it("publishes a decodable inventory once, drops an unchanged one and answers requests", async () => {
    const env = await setup({ checkIntervalMs: 500 });
    const [first] = await env.published.waitForCount(1, {
      timeoutMs: 30_000,
      what: "the inventory",
    });
    const raw = first!.data as Record<string, unknown>;
    for (const member of [
      "pc_id",
      "hostname",
      "os_name",
      "os_version",
      "os_build",
      "cpu_model",
      "cpu_cores",
      "ram_bytes",
      "disks",
      "collected_at",
    ]) {
      expect(raw, member).toHaveProperty(member);
    }
    const inv = decoded(raw);
    expect(inv.pcId).toBe(env.pcId);
    expect(inv.schemaVersion).toBe(2);
    expect(inv.agentVersion).toBe("9.9.9-test");
    expect(inv.cpuCores).toBeGreaterThan(0);
    expect(inv.ramBytes).toBeGreaterThan(0);
    expect(inv.contentHash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(inventoryContentHash(inv)).toBe(inv.contentHash);

    // It went through JetStream into INVENTORY.
    const jsm = await jetstreamManager(env.admin);
    expect((await jsm.streams.info(STREAM_INVENTORY)).state.messages).toBe(1);

    // The next collection finds nothing new and publishes nothing.
    await waitFor(() => hasLine(env.lines, "inventory unchanged, not published"), {
      timeoutMs: 30_000,
      what: "a second, unchanged collection",
    });
    expect(env.published.messages).toHaveLength(1);
    expect((await jsm.streams.info(STREAM_INVENTORY)).state.messages).toBe(1);

    // On demand: the current inventory, from the recent collection.
    const reply = await env.admin.request(inventoryRequestSubject(env.pcId), "", {
      timeout: 30_000,
    });
    const answered = decoded(reply.json());
    expect(answered.contentHash).toBe(inv.contentHash);
    expect(inventoryContentHash(answered)).toBe(answered.contentHash);
    expect(env.published.messages).toHaveLength(1);
  }, 60_000);

  it("collects afresh for a request when the cached inventory is too old, and follows a new connection", async () => {
    // Requests are served even with the scheduled inventory turned off.
    // What is collected does not matter here: the fast stand-ins keep the test short.
    const fakes = fakeCollectors();
    let collections = 0;
    const env = await setup({
      cacheMaxAgeMs: 0,
      config: { inventoryEnabled: false },
      collectors: {
        ...fakes,
        osInfo: () => {
          collections++;
          return fakes.osInfo();
        },
      },
    });
    const ask = async (nc: NatsConnection) =>
      decoded(
        (await nc.request(inventoryRequestSubject(env.pcId), "", { timeout: 30_000 })).json(),
      );
    const a = await ask(env.admin);
    const b = await ask(env.admin);
    expect(collections).toBe(2);
    expect(b.collectedAt).toBeGreaterThanOrEqual(a.collectedAt);
    expect(b.contentHash).toBe(a.contentHash);
    expect(env.published.messages).toHaveLength(0);

    // The connection machine replaces a connection that closed for good.
    const replacement = await connect({ servers: env.server.url });
    cleanups.push(() => replacement.close());
    await env.nc.close();
    env.link.attach(replacement);
    await replacement.flush();
    const c = await ask(env.admin);
    expect(c.pcId).toBe(env.pcId);
  }, 60_000);

  it("cuts off a hanging collector and publishes the rest with the failure named", async () => {
    const hang: Partial<Collectors> = { cpu: () => new Promise(() => {}) };
    const env = await setup({ collectors: hang, callTimeoutMs: 3_000 });
    const [msg] = await env.published.waitForCount(1, { timeoutMs: 30_000, what: "the inventory" });
    const inv = decoded(msg!.data);
    expect(inv.collectionErrors).toEqual([{ section: "cpu", error: "timeout after 3s" }]);
    expect(inv).not.toHaveProperty("cpu");
    // The legacy members still come, from the runtime.
    expect(inv.cpuCores).toBeGreaterThan(0);
    expect(inv.networkInterfaces).toBeDefined();
    expect(inv.osName.length).toBeGreaterThan(0);
    expect(inventoryContentHash(inv)).toBe(inv.contentHash);
  }, 60_000);

  it("keeps retrying the publish until the INVENTORY stream exists", async () => {
    // Nobody listens on the subject: the publish meets "no responders", as without a stream.
    const env = await setup({ bootstrap: false, listen: false, collectors: fakeCollectors() });
    await waitFor(
      () => env.lines.some((l) => l.level === "warn" && /publish inventory\./.test(l.msg)),
      { timeoutMs: 30_000, what: "a failed publish" },
    );
    await bootstrapKanade(env.admin);
    const jsm = await jetstreamManager(env.admin);
    await waitFor(async () => (await jsm.streams.info(STREAM_INVENTORY)).state.messages === 1, {
      timeoutMs: 30_000,
      what: "the retried publish to reach INVENTORY",
    });
    const stored = await jsm.streams.getMessage(STREAM_INVENTORY, { seq: 1 });
    if (stored === null) throw new Error("INVENTORY message 1 is missing");
    expect(stored.subject).toBe(inventorySubject(env.pcId));
    expect(decoded(stored.json()).pcId).toBe(env.pcId);
  }, 60_000);
});
