import { describe, expect, it } from "vitest";
import { HandOvers } from "../../../src/services/commands/handOvers.js";

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
};

describe("result hand-overs in flight (the stop sequence waits for them)", () => {
  it("settles at once when none is in flight", async () => {
    expect(await new HandOvers().settled(0)).toBe(true);
  });

  it("waits for every hand-over started so far, then forgets them", async () => {
    const h = new HandOvers();
    const a = deferred();
    const b = deferred();
    h.track(a.promise);
    h.track(b.promise);
    const settled = h.settled(5_000);
    let done = false;
    void settled.then(() => {
      done = true;
    });
    a.resolve();
    await a.promise;
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    b.resolve();
    expect(await settled).toBe(true);
    expect(h.size).toBe(0);
  });

  it("gives up after the time allowed, and a failed hand-over counts as ended", async () => {
    const h = new HandOvers();
    h.track(new Promise<void>(() => {}));
    const started = performance.now();
    expect(await h.settled(50)).toBe(false);
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);

    const failing = new HandOvers();
    const failed = Promise.reject(new Error("publish failed"));
    failed.catch(() => {});
    failing.track(failed);
    expect(await failing.settled(5_000)).toBe(true);
  });
});
