import type { NatsConnection } from "@nats-io/nats-core";
import { describe, expect, it } from "vitest";
import { createActor, fromCallback, fromPromise, SimulatedClock } from "xstate";
import { connectionMachine } from "../../src/machines/connection.machine.js";
import type { ConnectionStatusEvent } from "../../src/services/nats/connectionEvents.js";

const fakeNc = { id: "nc" } as unknown as NatsConnection;

function harness(opts: { failFirst?: number } = {}) {
  const calls: string[] = [];
  let attempts = 0;
  let emit: (e: ConnectionStatusEvent) => void = () => {};
  const clock = new SimulatedClock();
  const machine = connectionMachine.provide({
    actors: {
      connect: fromPromise(async () => {
        attempts++;
        if (attempts <= (opts.failFirst ?? 0)) throw new Error("refused");
        return fakeNc;
      }),
      watchStatus: fromCallback(({ sendBack }) => {
        emit = sendBack;
        return () => {};
      }),
      close: fromPromise(async () => {
        calls.push("close");
      }),
    },
    actions: {
      announceUp: (_, p) => calls.push(p.reconnect ? "up:reconnect" : "up"),
      announceDown: (_, p) => calls.push(`down:${p.reason}`),
      announceNotice: (_, p) => calls.push(`notice:${p.event.type}`),
    },
  });
  const actor = createActor(machine, { clock }).start();
  return {
    actor,
    calls,
    clock,
    emit: (e: ConnectionStatusEvent) => emit(e),
    attempts: () => attempts,
  };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

describe("connection machine", () => {
  it("connects, follows disconnect/reconnect and announces both", async () => {
    const h = harness();
    await settle();
    expect(h.actor.getSnapshot().value).toEqual({ open: { connected: "healthy" } });
    h.emit({ type: "DISCONNECTED", server: "a" });
    expect(h.actor.getSnapshot().value).toEqual({ open: "reconnecting" });
    h.emit({ type: "RECONNECTED", server: "a" });
    expect(h.actor.getSnapshot().value).toEqual({ open: { connected: "healthy" } });
    expect(h.calls).toEqual(["up", "down:disconnected from a", "up:reconnect"]);
  });

  it("models stale connections and lame duck mode", async () => {
    const h = harness();
    await settle();
    h.emit({ type: "STALE" });
    expect(h.actor.getSnapshot().value).toEqual({ open: { connected: "stale" } });
    h.emit({ type: "LAME_DUCK", server: "b" });
    expect(h.actor.getSnapshot().value).toEqual({ open: { connected: "lameDuck" } });
  });

  it("rebuilds a connection that closed for good after a backoff", async () => {
    const h = harness();
    await settle();
    h.emit({ type: "CLOSED", message: "auth" });
    expect(h.actor.getSnapshot().value).toBe("backoff");
    h.clock.increment(999);
    expect(h.actor.getSnapshot().value).toBe("backoff");
    h.clock.increment(1);
    await settle();
    expect(h.attempts()).toBe(2);
    expect(h.actor.getSnapshot().value).toEqual({ open: { connected: "healthy" } });
  });

  it("backs off exponentially while connection builds fail", async () => {
    const h = harness({ failFirst: 2 });
    await settle();
    expect(h.actor.getSnapshot().value).toBe("backoff");
    h.clock.increment(1000); // 1st failure: 1 s
    await settle();
    expect(h.attempts()).toBe(2);
    h.clock.increment(1999); // 2nd failure: 2 s
    await settle();
    expect(h.attempts()).toBe(2);
    h.clock.increment(1);
    await settle();
    expect(h.attempts()).toBe(3);
    expect(h.actor.getSnapshot().value).toEqual({ open: { connected: "healthy" } });
  });

  it("STOP closes the connection and ends", async () => {
    const h = harness();
    await settle();
    h.actor.send({ type: "STOP" });
    await settle();
    expect(h.calls).toContain("close");
    expect(h.actor.getSnapshot().status).toBe("done");
  });
});
