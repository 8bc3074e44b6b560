import { describe, expect, it } from "vitest";
import { createActor, fromPromise, SimulatedClock } from "xstate";
import { replayMachine } from "../../src/machines/replay.machine.js";

/** Lets the promise actors of a few states settle. */
const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
};

describe("replay machine", () => {
  it("waitStream → waitConsumer → catchingUp → draining, and re-opens 1 s after the consumer ends", async () => {
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
          readUnacked: fromPromise(async () => {
            calls.push("unacked");
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
    await settle();
    expect(actor.getSnapshot().value).toBe("draining");
    endDrain({ reason: "consumer deleted" });
    await new Promise((r) => setTimeout(r, 0));
    expect(actor.getSnapshot().value).toBe("reopen");
    clock.increment(999);
    expect(actor.getSnapshot().value).toBe("reopen");
    clock.increment(1);
    await settle();
    expect(calls).toEqual([
      "stream",
      "consumer",
      "unacked",
      "drain",
      "end:consumer deleted",
      "stream",
      "consumer",
      "unacked",
      "drain",
    ]);
    expect(seen).toContain("waitConsumer");
    expect(seen).toContain("catchingUp");
    actor.send({ type: "STOP" });
    expect(actor.getSnapshot().status).toBe("done");
  });

  it("a drain ended by a reconnect reads back at once: no re-open, no pause", async () => {
    const calls: string[] = [];
    let drains = 0;
    const actor = createActor(
      replayMachine.provide({
        actors: {
          waitForStream: fromPromise(async () => {
            calls.push("stream");
          }),
          readUnacked: fromPromise(async () => {
            calls.push("unacked");
          }),
          drain: fromPromise(async () => {
            calls.push("drain");
            // The first drain ends with the connection coming back; the second one lasts.
            if (++drains === 1) return { reason: "reconnected", reconnected: true };
            return new Promise<{ reason: string }>(() => {});
          }),
        },
        actions: { reportEnd: (_, p) => calls.push(`end:${p.reason}`) },
      }),
    ).start();
    await settle();
    expect(actor.getSnapshot().value).toBe("draining");
    expect(calls).toEqual(["stream", "unacked", "drain", "unacked", "drain"]);
    actor.stop();
  });

  it("reading back unacked commands is best effort: a failure still drains", async () => {
    const actor = createActor(
      replayMachine.provide({
        actors: {
          readUnacked: fromPromise<void>(async () => {
            throw new Error("broker gone");
          }),
          drain: fromPromise(() => new Promise<{ reason: string }>(() => {})),
        },
      }),
    ).start();
    await settle();
    expect(actor.getSnapshot().value).toBe("draining");
    actor.stop();
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
    await settle();
    expect(actor.getSnapshot().value).toBe("draining");
  });
});
