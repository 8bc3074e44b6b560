import { describe, expect, it } from "vitest";
import {
  assembleHwInventory,
  type RawInventory,
} from "../../../src/services/inventory/assemble.js";
import { HEADER_RESERVE, prepareInventory } from "../../../src/services/inventory/fit.js";
import { InventorySource } from "../../../src/services/inventory/source.js";
import type { Clock } from "../../../src/services/time/clock.js";
import { decodeHwInventory, inventoryContentHash } from "../../../src/services/wire/hwInventory.js";
import type { HwInventory } from "../../../src/services/wire/types.js";
import { fakeCollectors, fakeRuntime } from "./fakeHost.js";

async function inventory(): Promise<HwInventory> {
  const c = fakeCollectors();
  const raw: RawInventory = {
    osInfo: await c.osInfo(),
    cpu: await c.cpu(),
    mem: await c.mem(),
    fsSize: await c.fsSize(),
    memLayout: await c.memLayout(),
    diskLayout: await c.diskLayout(),
    networkInterfaces: await c.networkInterfaces(),
  };
  return assembleHwInventory(raw, {
    pcId: "PC1234",
    agentVersion: "1.0.0",
    platform: "win32",
    env: {},
    runtime: fakeRuntime,
    collectedAt: 0,
    errors: [],
  });
}

const decode = (bytes: Uint8Array) => {
  const d = decodeHwInventory(JSON.parse(new TextDecoder().decode(bytes)));
  if (!d.ok) throw new Error(d.error.message);
  return d.value;
};

describe("prepareInventory", () => {
  it("sends everything when it fits", async () => {
    const p = prepareInventory(await inventory(), 1_048_576);
    expect(p.dropped).toEqual([]);
    const sent = decode(p.bytes);
    expect(sent.networkInterfaces).toHaveLength(2);
    expect(sent.contentHash).toBe(p.hash);
  });

  it("leaves out network interfaces, then physical disks, then memory modules until it fits", async () => {
    const inv = await inventory();
    const full = prepareInventory(inv, 1_048_576).bytes.length;
    const withoutNics = prepareInventory({ ...inv, networkInterfaces: undefined }, 1_048_576).bytes
      .length;

    const one = prepareInventory(inv, withoutNics + HEADER_RESERVE);
    expect(one.dropped).toEqual(["network_interfaces"]);
    expect(one.bytes.length).toBeLessThanOrEqual(withoutNics);
    const sent = decode(one.bytes);
    expect(sent).not.toHaveProperty("networkInterfaces");
    expect(sent.physicalDisks).toHaveLength(1);
    // The hash describes the payload as published.
    expect(sent.contentHash).toBe(inventoryContentHash(sent));
    expect(one.hash).not.toBe(prepareInventory(inv, 1_048_576).hash);

    const all = prepareInventory(inv, 200 + HEADER_RESERVE);
    expect(all.dropped).toEqual(["network_interfaces", "physical_disks", "memory_modules"]);
    expect(all.oversize).toBe(true);
    expect(full).toBeGreaterThan(withoutNics);
  });
});

describe("InventorySource", () => {
  function source() {
    let now = 0;
    const clock: Clock = { now: () => now, monotonic: () => now };
    let runs = 0;
    const release: (() => void)[] = [];
    const src = new InventorySource({
      clock,
      collect: async () => {
        runs++;
        await new Promise<void>((r) => release.push(r));
        return inventory();
      },
      prepare: (inv) => prepareInventory(inv, 0),
    });
    return {
      src,
      runs: () => runs,
      release: () => {
        for (const r of release.splice(0)) r();
      },
      setNow: (ms: number) => {
        now = ms;
      },
    };
  }

  it("shares a collection in progress", async () => {
    const s = source();
    const a = s.src.collect();
    const b = s.src.current();
    await Promise.resolve();
    await new Promise((r) => setTimeout(r, 0));
    expect(s.runs()).toBe(1);
    s.release();
    expect(await a).toBe(await b);
    expect(s.src.collecting).toBe(false);
  });

  it("answers from a recent collection and collects again once it is 5 minutes old", async () => {
    const s = source();
    const first = s.src.collect();
    await new Promise((r) => setTimeout(r, 0));
    s.release();
    await first;
    s.setNow(5 * 60_000 - 1);
    expect(await s.src.current()).toBe(await first);
    expect(s.runs()).toBe(1);
    s.setNow(5 * 60_000);
    const again = s.src.current();
    await new Promise((r) => setTimeout(r, 0));
    expect(s.runs()).toBe(2);
    s.release();
    expect(await again).not.toBe(await first);
  });

  it("starts fresh after a failed collection", async () => {
    let fail = true;
    const src = new InventorySource({
      clock: { now: () => 0, monotonic: () => 0 },
      collect: async () => {
        if (fail) throw new Error("boom");
        return inventory();
      },
      prepare: (inv) => prepareInventory(inv, 0),
    });
    await expect(src.collect()).rejects.toThrow("boom");
    fail = false;
    await expect(src.collect()).resolves.toMatchObject({ dropped: [] });
  });
});
