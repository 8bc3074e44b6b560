import { afterEach, describe, expect, it } from "vitest";
import { type Actor, createActor, fromPromise, SimulatedClock } from "xstate";
import {
  type InventoryCollection,
  type InventorySettings,
  inventoryMachine,
  jitteredFirstDelay,
  type PublishDone,
} from "../../src/machines/inventory.machine.js";

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

const settings = (over: Partial<InventorySettings> = {}): InventorySettings => ({
  enabled: true,
  jitterMs: 60 * SECOND,
  checkIntervalMs: HOUR,
  intervalMs: 24 * HOUR,
  ...over,
});

interface Deferred<T> {
  resolve(v: T): void;
  reject(e: unknown): void;
}

function harness(
  opts: {
    random?: () => number;
    /** Hash of the n-th collection (0-based); "h" by default. */
    hashOf?: (n: number) => string;
    /** Collections resolve only when the test says so. */
    manualCollect?: boolean;
    /** Publishes resolve only when the test says so. */
    manualPublish?: boolean;
  } = {},
) {
  const clock = new SimulatedClock();
  const collectsAt: number[] = [];
  const openCollects: Deferred<InventoryCollection>[] = [];
  const publishes: { hash: string; at: number; signal: AbortSignal }[] = [];
  const openPublishes: Deferred<PublishDone>[] = [];
  const notes: string[] = [];
  const collection = (n: number): InventoryCollection => ({
    hash: opts.hashOf?.(n) ?? "h",
    at: clock.now(),
    payload: new Uint8Array([n]),
  });
  const machine = inventoryMachine.provide({
    actors: {
      collect: fromPromise<InventoryCollection>(() => {
        const n = collectsAt.length;
        collectsAt.push(clock.now());
        if (!opts.manualCollect) return Promise.resolve(collection(n));
        return new Promise((resolve, reject) =>
          openCollects.push({ resolve: () => resolve(collection(n)), reject }),
        );
      }),
      publish: fromPromise<PublishDone, InventoryCollection>(({ input, signal }) => {
        publishes.push({ hash: input.hash, at: clock.now(), signal });
        if (!opts.manualPublish) return Promise.resolve({ at: clock.now() });
        return new Promise((resolve, reject) =>
          openPublishes.push({ resolve: () => resolve({ at: clock.now() }), reject }),
        );
      }),
    },
    actions: {
      noteSkipped: () => notes.push("skipped"),
      noteUnchanged: (_, p) => notes.push(`unchanged:${p.hash}`),
      notePublished: (_, p) => notes.push(`published:${p.hash}`),
      noteFailure: (_, p) => notes.push(`failed:${p.what}`),
    },
    delays: { firstDelay: jitteredFirstDelay(opts.random ?? (() => 0)) },
  });
  const actor = createActor(machine, { clock }).start();
  actors.push(actor);
  /** Advances simulated time and lets resolved promises land. */
  const advance = async (ms: number) => {
    clock.increment(ms);
    await settle();
  };
  return { actor, clock, collectsAt, openCollects, publishes, openPublishes, notes, advance };
}

const actors: Actor<typeof inventoryMachine>[] = [];
afterEach(() => {
  for (const a of actors.splice(0)) a.stop();
});

const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
};

describe("inventory machine", () => {
  it("starts the first collection after the jitter drawn with the injected random", async () => {
    const h = harness({ random: () => 0.25 });
    h.actor.send({ type: "CONFIG", settings: settings({ jitterMs: 60 * SECOND }) });
    const expected = Math.floor(0.25 * (60 * SECOND + 1));
    await h.advance(expected - 1);
    expect(h.collectsAt).toEqual([]);
    await h.advance(1);
    expect(h.collectsAt).toEqual([expected]);
  });

  it("draws the first delay anywhere up to the whole jitter", async () => {
    const h = harness({ random: () => 0.999_999 });
    h.actor.send({ type: "CONFIG", settings: settings({ jitterMs: 10 * SECOND }) });
    await h.advance(10 * SECOND - 1);
    expect(h.collectsAt).toEqual([]);
    await h.advance(1);
    expect(h.collectsAt).toEqual([10 * SECOND]);
  });

  it("collects every check interval after the previous collection started", async () => {
    const h = harness();
    h.actor.send({ type: "CONFIG", settings: settings({ checkIntervalMs: 10 * MINUTE }) });
    await h.advance(0);
    await h.advance(10 * MINUTE - 1);
    expect(h.collectsAt).toEqual([0]);
    await h.advance(1);
    await h.advance(10 * MINUTE);
    await h.advance(10 * MINUTE);
    expect(h.collectsAt).toEqual([0, 10 * MINUTE, 20 * MINUTE, 30 * MINUTE]);
  });

  it("publishes the first collection and drops unchanged ones", async () => {
    const h = harness();
    h.actor.send({ type: "CONFIG", settings: settings() });
    await h.advance(0);
    await h.advance(HOUR);
    await h.advance(HOUR);
    expect(h.collectsAt).toHaveLength(3);
    expect(h.publishes.map((p) => p.hash)).toEqual(["h"]);
    expect(h.notes).toEqual(["published:h", "unchanged:h", "unchanged:h"]);
  });

  it("publishes a collection whose hash changed", async () => {
    const h = harness({ hashOf: (n) => (n < 2 ? "a" : "b") });
    h.actor.send({ type: "CONFIG", settings: settings() });
    await h.advance(0);
    await h.advance(HOUR);
    await h.advance(HOUR);
    expect(h.publishes.map((p) => [p.hash, p.at])).toEqual([
      ["a", 0],
      ["b", 2 * HOUR],
    ]);
  });

  it("publishes an unchanged inventory again once inventory_interval has passed", async () => {
    const h = harness();
    h.actor.send({ type: "CONFIG", settings: settings({ intervalMs: 3 * HOUR }) });
    await h.advance(0);
    await h.advance(HOUR);
    await h.advance(HOUR);
    expect(h.publishes).toHaveLength(1);
    await h.advance(HOUR);
    expect(h.publishes.map((p) => p.at)).toEqual([0, 3 * HOUR]);
  });

  it("does not collect while disabled, and starts with a fresh jitter when enabled", async () => {
    const h = harness({ random: () => 0.5 });
    h.actor.send({ type: "CONFIG", settings: settings({ enabled: false, jitterMs: 2 * SECOND }) });
    await h.advance(48 * HOUR);
    expect(h.collectsAt).toEqual([]);
    h.actor.send({ type: "CONFIG", settings: settings({ enabled: true, jitterMs: 2 * SECOND }) });
    await h.advance(1000);
    expect(h.collectsAt).toEqual([48 * HOUR + 1000]);
    h.actor.send({ type: "CONFIG", settings: settings({ enabled: false, jitterMs: 2 * SECOND }) });
    await h.advance(48 * HOUR);
    expect(h.collectsAt).toHaveLength(1);
  });

  it("skips a collection that falls due while one is still running", async () => {
    const h = harness({ manualCollect: true });
    h.actor.send({ type: "CONFIG", settings: settings({ checkIntervalMs: MINUTE }) });
    await h.advance(0);
    await h.advance(MINUTE);
    await h.advance(MINUTE);
    expect(h.collectsAt).toEqual([0]);
    expect(h.notes).toEqual(["skipped", "skipped"]);
    h.openCollects[0]!.resolve(undefined as never);
    await settle();
    expect(h.publishes).toHaveLength(1);
    await h.advance(MINUTE);
    expect(h.collectsAt).toEqual([0, 3 * MINUTE]);
  });

  it("a newer collection replaces a publish that is still being retried", async () => {
    const h = harness({ manualPublish: true, hashOf: (n) => `h${n}` });
    h.actor.send({ type: "CONFIG", settings: settings() });
    await h.advance(0);
    expect(h.publishes.map((p) => p.hash)).toEqual(["h0"]);
    await h.advance(HOUR);
    expect(h.publishes.map((p) => p.hash)).toEqual(["h0", "h1"]);
    expect(h.publishes[0]!.signal.aborted).toBe(true);
    expect(h.publishes[1]!.signal.aborted).toBe(false);
    h.openPublishes[1]!.resolve(undefined as never);
    await settle();
    expect(h.notes).toEqual(["published:h1"]);
  });

  it("a changed check interval counts from the change", async () => {
    const h = harness();
    h.actor.send({ type: "CONFIG", settings: settings() });
    await h.advance(0);
    await h.advance(10 * MINUTE);
    h.actor.send({ type: "CONFIG", settings: settings({ checkIntervalMs: 5 * MINUTE }) });
    await h.advance(5 * MINUTE);
    expect(h.collectsAt).toEqual([0, 15 * MINUTE]);
  });

  it("a failed collection is reported and the schedule goes on", async () => {
    const h = harness({ manualCollect: true });
    h.actor.send({ type: "CONFIG", settings: settings() });
    await h.advance(0);
    h.openCollects[0]!.reject(new Error("boom"));
    await settle();
    expect(h.notes).toEqual(["failed:collect"]);
    await h.advance(HOUR);
    expect(h.collectsAt).toEqual([0, HOUR]);
  });

  it("STOP ends the machine", async () => {
    const h = harness();
    h.actor.send({ type: "CONFIG", settings: settings() });
    h.actor.send({ type: "STOP" });
    expect(h.actor.getSnapshot().status).toBe("done");
    await h.advance(HOUR);
    expect(h.collectsAt).toEqual([]);
  });
});
