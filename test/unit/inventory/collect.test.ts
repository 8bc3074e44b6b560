import { describe, expect, it } from "vitest";
import {
  InventoryCollector,
  type InventoryCollectorOptions,
} from "../../../src/services/inventory/collect.js";
import type { Collectors } from "../../../src/services/inventory/collectors.js";
import { silentLogger } from "../../../src/services/logging/logger.js";
import { systemClock } from "../../../src/services/time/clock.js";
import { fakeCollectors, fakeRuntime } from "./fakeHost.js";

const never = <T>() => new Promise<T>(() => {});

function collector(over: Partial<Collectors> = {}, opts: Partial<InventoryCollectorOptions> = {}) {
  return new InventoryCollector({
    pcId: "PC1234",
    agentVersion: "1.0.0",
    platform: "win32",
    clock: systemClock,
    log: silentLogger(),
    collectors: { ...fakeCollectors(), ...over },
    runtime: fakeRuntime,
    env: {},
    shell: null,
    ...opts,
  });
}

describe("InventoryCollector", () => {
  it("cuts off a hanging call, names it in collection_errors and keeps the rest", async () => {
    const started = Date.now();
    const inv = await collector({ baseboard: never }, { callTimeoutMs: 150 }).collect();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(inv.collectionErrors).toEqual([{ section: "baseboard", error: "timeout after 150ms" }]);
    expect(inv).not.toHaveProperty("baseboard");
    expect(inv.bios?.vendor).toBe("LENOVO");
    expect(inv.networkInterfaces).toHaveLength(2);
  });

  it("reports a failing call and falls back to the runtime for its legacy members", async () => {
    const inv = await collector({
      cpu: async () => {
        throw new Error("wmic gone");
      },
      mem: () => {
        throw new Error("synchronous failure");
      },
    }).collect();
    expect(inv.collectionErrors).toEqual([
      { section: "cpu", error: "wmic gone" },
      { section: "ram", error: "synchronous failure" },
    ]);
    expect(inv.cpuModel).toBe("Intel(R) Core(TM) i7-1265U");
    expect(inv.cpuCores).toBe(12);
    expect(inv.ramBytes).toBe(34_000_000_000);
    expect(inv).not.toHaveProperty("cpu");
  });

  it("names a failed uuid() under system and keeps what system() said", async () => {
    const inv = await collector({
      uuid: async () => {
        throw new Error("denied");
      },
    }).collect();
    expect(inv.collectionErrors).toEqual([{ section: "system", error: "uuid: denied" }]);
    expect(inv.system).toMatchObject({ manufacturer: "LENOVO" });
    expect(inv.system).not.toHaveProperty("uuid");
  });

  it("bounds the whole collection and does not run what is left", async () => {
    const slow = () =>
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error("slow")), 80));
    const all = Object.fromEntries(Object.keys(fakeCollectors()).map((k) => [k, slow]));
    const started = Date.now();
    const inv = await collector(all, { callTimeoutMs: 1_000, totalTimeoutMs: 200 }).collect();
    expect(Date.now() - started).toBeLessThan(1_000);
    const errors = inv.collectionErrors ?? [];
    expect(errors.slice(0, 2)).toEqual([
      { section: "os", error: "slow" },
      { section: "cpu", error: "slow" },
    ]);
    expect(errors).toHaveLength(11);
    expect(errors[errors.length - 1]).toEqual({
      section: "network_interfaces",
      error: "not run: the collection reached its limit of 200ms",
    });
  });

  it("does not start a call again while its earlier call still hangs", async () => {
    let calls = 0;
    const c = collector(
      {
        bios: () => {
          calls++;
          return never();
        },
      },
      { callTimeoutMs: 50 },
    );
    await c.collect();
    const second = await c.collect();
    expect(calls).toBe(1);
    expect(second.collectionErrors).toEqual([
      { section: "bios", error: "not run: the previous call has not returned yet" },
    ]);
  });

  it("runs a hung call again in the next shell session, since the old shell is gone", async () => {
    let calls = 0;
    const c = collector(
      {
        bios: () => {
          calls++;
          return never();
        },
      },
      { callTimeoutMs: 50, shell: { start: () => {}, release: () => {} } },
    );
    await c.collect();
    await c.collect();
    expect(calls).toBe(2);
  });

  it("runs every call inside one shell session", async () => {
    const events: string[] = [];
    const wrap = fakeCollectors();
    const inv = await collector(
      {
        osInfo: () => {
          events.push("osInfo");
          return wrap.osInfo();
        },
      },
      { shell: { start: () => events.push("start"), release: () => events.push("release") } },
    ).collect();
    expect(events).toEqual(["start", "osInfo", "release"]);
    expect(inv.osName).toBe("Microsoft Windows 11 Pro");
  });

  it("gives the same result with calls in parallel", async () => {
    const a = await collector().collect();
    const b = await collector({}, { concurrency: 4 }).collect();
    expect(b.contentHash).toBe(a.contentHash);
  });
});
