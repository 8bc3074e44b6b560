import { describe, expect, it } from "vitest";
import { createActor, fromCallback, fromPromise, SimulatedClock } from "xstate";
import {
  type TickerEvent,
  type TickInput,
  tickerMachine,
} from "../../src/machines/ticker.machine.js";

const settle = () => new Promise((r) => setTimeout(r, 0));

interface HarnessOptions {
  spreadMs?: number;
  intervalMs?: number;
  /** Makes every tick hang until `release()` (to see what happens while one is running). */
  holdTicks?: boolean;
  failTicks?: boolean;
  /** The follower does not tell the interval at start. */
  silentFollower?: boolean;
}

function harness(opts: HarnessOptions = {}) {
  const clock = new SimulatedClock();
  const ticks: (TickInput & { at: number })[] = [];
  const skips: string[] = [];
  const failures: string[] = [];
  let connected = true;
  let emit: (e: TickerEvent) => void = () => {};
  let release: () => void = () => {};
  const machine = tickerMachine.provide({
    actors: {
      follow: fromCallback<TickerEvent>(({ sendBack }) => {
        emit = sendBack;
        // Like the real follower: the current interval is told at once.
        if (!opts.silentFollower) {
          sendBack({ type: "INTERVAL_CHANGED", intervalMs: opts.intervalMs ?? 10_000 });
        }
        return () => {};
      }),
      tick: fromPromise<void, TickInput>(async ({ input }) => {
        ticks.push({ ...input, at: clock.now() });
        if (opts.failTicks) throw new Error("sampler broke");
        if (opts.holdTicks) await new Promise<void>((r) => (release = r));
      }),
    },
    guards: { connected: () => connected },
    actions: {
      reportSkip: (_, p) => skips.push(`${p.reason}:${p.why}`),
      reportFailure: (_, p) => failures.push(`${p.reason}:${String(p.error)}`),
    },
    delays: { spread: opts.spreadMs ?? 0 },
  });
  const actor = createActor(machine, { clock }).start();
  return {
    actor,
    ticks,
    skips,
    failures,
    emit: (e: TickerEvent) => emit(e),
    setConnected: (up: boolean) => {
      connected = up;
    },
    release: () => release(),
    /** Advances the simulated time and lets finished tick promises come back. */
    advance: async (ms: number) => {
      clock.increment(ms);
      await settle();
    },
    times: () => ticks.map((t) => t.at),
    reasons: () => ticks.map((t) => t.reason),
  };
}

describe("ticker machine", () => {
  it("ticks once the spread delay has passed, then every interval", async () => {
    const h = harness({ spreadMs: 1_234 });
    await h.advance(1_233);
    expect(h.ticks).toEqual([]);
    await h.advance(1);
    expect(h.ticks).toEqual([{ reason: "start", intervalMs: 10_000, at: 1_234 }]);
    await h.advance(9_999);
    expect(h.ticks).toHaveLength(1);
    await h.advance(1);
    await h.advance(10_000);
    expect(h.times()).toEqual([1_234, 11_234, 21_234]);
    expect(h.reasons()).toEqual(["start", "period", "period"]);
  });

  it("waits until it knows the interval before it starts", async () => {
    const h = harness({ silentFollower: true });
    await h.advance(60_000);
    expect(h.ticks).toEqual([]);
    h.emit({ type: "INTERVAL_CHANGED", intervalMs: 3_000 });
    await h.advance(0);
    expect(h.ticks).toEqual([{ reason: "start", intervalMs: 3_000, at: 60_000 }]);
  });

  it("uses the interval the follower tells at start", async () => {
    const h = harness({ intervalMs: 3_000 });
    await h.advance(0);
    await h.advance(3_000);
    await h.advance(3_000);
    expect(h.times()).toEqual([0, 3_000, 6_000]);
    expect(h.ticks[0]?.intervalMs).toBe(3_000);
  });

  it("ticks at once when the interval changes and runs the new period from there", async () => {
    const h = harness();
    await h.advance(0);
    await h.advance(4_000);
    h.emit({ type: "INTERVAL_CHANGED", intervalMs: 2_000 });
    await settle();
    expect(h.ticks.at(-1)).toEqual({ reason: "interval", intervalMs: 2_000, at: 4_000 });
    await h.advance(1_999);
    expect(h.ticks).toHaveLength(2);
    await h.advance(1);
    await h.advance(2_000);
    expect(h.times()).toEqual([0, 4_000, 6_000, 8_000]);
    // The old 10 s period is gone: nothing extra at t = 10 s.
    await h.advance(2_000);
    expect(h.times()).toEqual([0, 4_000, 6_000, 8_000, 10_000]);
  });

  it("ignores an interval change to the same interval", async () => {
    const h = harness();
    await h.advance(0);
    await h.advance(3_000);
    h.emit({ type: "INTERVAL_CHANGED", intervalMs: 10_000 });
    await settle();
    expect(h.ticks).toHaveLength(1);
    await h.advance(7_000);
    expect(h.times()).toEqual([0, 10_000]);
  });

  it("ticks at once after a reconnect and restarts the period", async () => {
    const h = harness();
    await h.advance(0);
    await h.advance(6_000);
    h.emit({ type: "RECONNECTED" });
    await settle();
    expect(h.ticks.at(-1)).toEqual({ reason: "reconnect", intervalMs: 10_000, at: 6_000 });
    await h.advance(4_000); // the old period would have ticked at 10 s
    expect(h.ticks).toHaveLength(2);
    await h.advance(6_000);
    expect(h.times()).toEqual([0, 6_000, 16_000]);
  });

  it("does not tick while disconnected, and does not catch up afterwards", async () => {
    const h = harness();
    await h.advance(0);
    h.setConnected(false);
    for (let i = 0; i < 5; i++) await h.advance(10_000);
    expect(h.ticks).toHaveLength(1);
    expect(h.skips).toEqual(Array(5).fill("period:disconnected"));
    await h.advance(3_000);
    h.setConnected(true);
    h.emit({ type: "RECONNECTED" });
    await settle();
    expect(h.reasons()).toEqual(["start", "reconnect"]);
    await h.advance(9_999);
    expect(h.ticks).toHaveLength(2);
    await h.advance(1);
    expect(h.times()).toEqual([0, 53_000, 63_000]);
  });

  it("skips the spread-delayed first tick when not connected; the connect ticks instead", async () => {
    const h = harness({ spreadMs: 2_000 });
    h.setConnected(false);
    await h.advance(2_000);
    expect(h.ticks).toEqual([]);
    expect(h.skips).toEqual(["start:disconnected"]);
    await h.advance(1_000);
    h.setConnected(true);
    h.emit({ type: "RECONNECTED" });
    await settle();
    expect(h.ticks).toEqual([{ reason: "reconnect", intervalMs: 10_000, at: 3_000 }]);
  });

  it("keeps the spread when the interval changes or the link comes up during it", async () => {
    const h = harness({ spreadMs: 4_000 });
    await h.advance(1_000);
    h.emit({ type: "RECONNECTED" });
    h.emit({ type: "INTERVAL_CHANGED", intervalMs: 5_000 });
    await settle();
    expect(h.ticks).toEqual([]);
    await h.advance(3_000);
    expect(h.ticks).toEqual([{ reason: "start", intervalMs: 5_000, at: 4_000 }]);
    await h.advance(5_000);
    expect(h.times()).toEqual([4_000, 9_000]);
  });

  it("skips a tick that falls due while the previous one still runs", async () => {
    const h = harness({ holdTicks: true });
    await h.advance(0);
    await h.advance(10_000);
    h.emit({ type: "RECONNECTED" });
    await settle();
    expect(h.ticks).toHaveLength(1);
    expect(h.skips).toEqual(["period:busy", "reconnect:busy"]);
    h.release();
    await settle();
    await h.advance(10_000);
    expect(h.ticks).toHaveLength(2);
  });

  it("abandons a tick that hangs, reports it and keeps ticking", async () => {
    const h = harness({ holdTicks: true, intervalMs: 60_000 });
    await h.advance(0);
    await h.advance(30_000);
    expect(h.failures).toEqual(["start:Error: tick did not finish in time; abandoned"]);
    await h.advance(30_000);
    expect(h.ticks).toHaveLength(2);
  });

  it("reports a failed tick and does not retry it before the next period", async () => {
    const h = harness({ failTicks: true });
    await h.advance(0);
    expect(h.failures).toEqual(["start:Error: sampler broke"]);
    await h.advance(9_999);
    expect(h.ticks).toHaveLength(1);
    await h.advance(1);
    expect(h.ticks).toHaveLength(2);
    expect(h.failures).toHaveLength(2);
  });

  it("stops ticking on STOP", async () => {
    const h = harness();
    await h.advance(0);
    h.actor.send({ type: "STOP" });
    await h.advance(60_000);
    expect(h.ticks).toHaveLength(1);
    expect(h.actor.getSnapshot().status).toBe("done");
  });
});
