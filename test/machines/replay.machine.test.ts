import { describe, expect, it } from "vitest";
import { createActor, fromPromise, SimulatedClock } from "xstate";
import { replayMachine } from "../../src/machines/replay.machine.js";

describe("replay machine", () => {
  it("waitStream → waitConsumer → draining, and re-opens 1 s after the consumer ends", async () => {
    const clock = new SimulatedClock();
    const calls: string[] = [];
    let endDrain: (r: { reason: string }) => void = () => {};
    const actor = createActor(
      replayMachine.provide({
        actors: {
          waitForStream: fromPromise(async () => {
            calls.push("stream");
          }),
          ensureConsumer: fromPromise(async () => {
            calls.push("consumer");
          }),
          drain: fromPromise(
            () =>
              new Promise<{ reason: string }>((r) => {
                calls.push("drain");
                endDrain = r;
              }),
          ),
        },
        actions: { reportEnd: (_, p) => calls.push(`end:${p.reason}`) },
      }),
      { clock },
    ).start();
    const seen: unknown[] = [];
    actor.subscribe((s) => seen.push(s.value));
    await new Promise((r) => setTimeout(r, 0));
    await new Promise((r) => setTimeout(r, 0));
    expect(actor.getSnapshot().value).toBe("draining");
    endDrain({ reason: "consumer deleted" });
    await new Promise((r) => setTimeout(r, 0));
    expect(actor.getSnapshot().value).toBe("reopen");
    clock.increment(999);
    expect(actor.getSnapshot().value).toBe("reopen");
    clock.increment(1);
    await new Promise((r) => setTimeout(r, 0));
    await new Promise((r) => setTimeout(r, 0));
    expect(calls).toEqual([
      "stream",
      "consumer",
      "drain",
      "end:consumer deleted",
      "stream",
      "consumer",
      "drain",
    ]);
    expect(seen).toContain("waitConsumer");
    actor.send({ type: "STOP" });
    expect(actor.getSnapshot().status).toBe("done");
  });

  it("a failing wait re-opens instead of dying", async () => {
    const clock = new SimulatedClock();
    let attempts = 0;
    const actor = createActor(
      replayMachine.provide({
        actors: {
          waitForStream: fromPromise(async () => {
            attempts++;
            if (attempts === 1) throw new Error("aborted");
          }),
          ensureConsumer: fromPromise(async () => {}),
          drain: fromPromise(() => new Promise<{ reason: string }>(() => {})),
        },
      }),
      { clock },
    ).start();
    await new Promise((r) => setTimeout(r, 0));
    expect(actor.getSnapshot().value).toBe("reopen");
    clock.increment(1000);
    await new Promise((r) => setTimeout(r, 0));
    await new Promise((r) => setTimeout(r, 0));
    expect(actor.getSnapshot().value).toBe("draining");
  });
});
