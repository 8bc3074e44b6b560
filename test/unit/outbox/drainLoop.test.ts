import { Subject } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../../src/services/logging/logger.js";
import type { PassOptions, PassReport } from "../../../src/services/outbox/drainer.js";
import { type DrainLoop, startDrainLoop } from "../../../src/services/outbox/drainLoop.js";
import { systemClock } from "../../../src/services/time/clock.js";
import { sleep, waitFor } from "../../helpers/waitFor.js";

const EMPTY: PassReport = { published: 0, stuck: 0, failed: 0, delayed: 0 };

/** A drainer that records when passes start and can be made to hang. */
class RecordingDrainer {
  starts: { at: number; opts: PassOptions }[] = [];
  ends: number[] = [];
  stopRequests = 0;
  hang: Promise<void> | undefined;
  release: (() => void) | undefined;

  async runPass(opts: PassOptions = {}): Promise<PassReport> {
    this.starts.push({ at: performance.now(), opts });
    if (this.hang) await this.hang;
    this.ends.push(performance.now());
    return EMPTY;
  }

  requestStop(): void {
    this.stopRequests++;
  }

  hangNext(): void {
    this.hang = new Promise((r) => {
      this.release = r;
    });
  }
}

let loop: DrainLoop | undefined;
afterEach(async () => {
  await loop?.stop();
  loop = undefined;
});

function start(drainer: RecordingDrainer, random = () => 0.5) {
  const wake$ = new Subject<void>();
  loop = startDrainLoop({
    drainer,
    wake$,
    clock: systemClock,
    random,
    log: silentLogger(),
    intervalMs: 40,
    connectJitterMs: 400,
  });
  return wake$;
}

describe("startDrainLoop", () => {
  it("does nothing before the first connect", async () => {
    const d = new RecordingDrainer();
    start(d);
    await sleep(150);
    expect(d.starts).toEqual([]);
  });

  it("starts a pass a random 0–2 s share after a connect, then one interval after each pass", async () => {
    const d = new RecordingDrainer();
    const wake$ = start(d, () => 0.5);
    const woke = performance.now();
    wake$.next();
    await waitFor(() => d.starts.length >= 4, { what: "four passes" });
    // 0.5 × 400 ms after the connect, not at once.
    expect(d.starts[0]!.at - woke).toBeGreaterThanOrEqual(195);
    for (let i = 1; i < 4; i++) {
      expect(d.starts[i]!.at - d.ends[i - 1]!).toBeGreaterThanOrEqual(38);
    }
  });

  it("uses the injected random for the connect delay", async () => {
    const d = new RecordingDrainer();
    const wake$ = start(d, () => 0);
    const woke = performance.now();
    wake$.next();
    await waitFor(() => d.starts.length >= 1, { what: "a pass" });
    expect(d.starts[0]!.at - woke).toBeLessThan(150);
  });

  it("a reconnect during a pass brings the next one forward to the connect delay", async () => {
    const d = new RecordingDrainer();
    let r = 0;
    const wake$ = start(d, () => r);
    wake$.next();
    await waitFor(() => d.starts.length >= 1, { what: "a pass" });
    d.hangNext();
    await waitFor(() => d.release !== undefined && d.starts.length >= 2, {
      what: "a hanging pass",
    });
    r = 0.75; // 300 ms
    wake$.next();
    const released = performance.now();
    d.hang = undefined;
    d.release?.();
    await waitFor(() => d.starts.length >= 3, { what: "the pass after the reconnect" });
    expect(d.starts[2]!.at - released).toBeGreaterThanOrEqual(290);
  });

  it("stops: no more passes, and the running one is asked to end", async () => {
    const d = new RecordingDrainer();
    const wake$ = start(d, () => 0);
    wake$.next();
    await waitFor(() => d.starts.length >= 1, { what: "a pass" });
    d.hangNext();
    await waitFor(() => d.starts.length >= 2, { what: "a hanging pass" });
    const stopped = loop!.stop();
    expect(d.stopRequests).toBe(1);
    d.hang = undefined;
    d.release?.();
    await stopped;
    const n = d.starts.length;
    wake$.next();
    await sleep(150);
    expect(d.starts.length).toBe(n);
  });

  it("drainOnce runs one pass with the deadline and returns by the deadline even if it hangs", async () => {
    const d = new RecordingDrainer();
    start(d);
    const deadline = performance.now() + 300;
    const report = await loop!.drainOnce(deadline);
    expect(report).toEqual(EMPTY);
    expect(d.starts).toHaveLength(1);
    expect(d.starts[0]!.opts.deadline).toBe(deadline);

    d.hangNext();
    const t0 = performance.now();
    expect(await loop!.drainOnce(t0 + 200)).toBeUndefined();
    expect(performance.now() - t0).toBeLessThan(1_000);
    d.release?.();
  });
});
