import { afterEach, describe, expect, it } from "vitest";
import { type Actor, createActor, fromPromise, SimulatedClock } from "xstate";
import {
  jitteredDelay,
  type SelfUpdateFacts,
  type SelfUpdateWork,
  selfUpdateMachine,
} from "../../src/machines/selfUpdate.machine.js";

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

type Step = "waitStore" | "download" | "unpack" | "swap";

interface Call {
  step: Step;
  version: string;
  at: number;
}

class Refusal extends Error {
  readonly refuse = true;
  constructor(readonly reason: string) {
    super(reason);
  }
}

function harness(
  opts: {
    facts?: Partial<SelfUpdateFacts>;
    random?: () => number;
    /** The outcome of the n-th download (0-based); success by default. */
    download?: (n: number) => "ok" | "transport" | "refuse";
    unpack?: () => "ok" | "refuse";
    /** Swaps resolve only when the test says so. */
    manualSwap?: boolean;
  } = {},
) {
  const clock = new SimulatedClock();
  const calls: Call[] = [];
  const notes: string[] = [];
  const restarts: string[] = [];
  const openSwaps: (() => void)[] = [];
  let downloads = 0;
  const work = (step: Step, run: (input: SelfUpdateWork) => Promise<void>) =>
    fromPromise<void, SelfUpdateWork>(({ input }) => {
      calls.push({ step, version: input.version, at: clock.now() });
      return run(input);
    });
  const machine = selfUpdateMachine.provide({
    actors: {
      loadFacts: fromPromise<SelfUpdateFacts>(async () => ({
        running: "1.0.0",
        quarantined: [],
        ...opts.facts,
      })),
      waitStore: work("waitStore", async () => {}),
      download: work("download", async () => {
        const outcome = opts.download?.(downloads++) ?? "ok";
        if (outcome === "transport") throw new Error("connection closed");
        if (outcome === "refuse") throw new Refusal("digest mismatch");
      }),
      unpack: work("unpack", async () => {
        if (opts.unpack?.() === "refuse") throw new Refusal("not a kanade-agent package");
      }),
      swap: work("swap", () =>
        opts.manualSwap ? new Promise<void>((r) => openSwaps.push(r)) : Promise.resolve(),
      ),
    },
    actions: {
      requestRestart: (_, p) => restarts.push(p.version),
      noteRefused: (_, p) => notes.push(`refused:${p.version}:${p.reason}`),
      noteQuarantined: (_, p) => notes.push(`quarantined:${p.version}`),
      noteTargetChanged: (_, p) => notes.push(`changed:${p.from}->${p.to}`),
      noteRetry: (_, p) => notes.push(`retry:${p.failures}`),
    },
    delays: { jitterDelay: jitteredDelay(opts.random ?? (() => 0)) },
  });
  const actor = createActor(machine, { clock }).start();
  actors.push(actor);
  const advance = async (ms: number) => {
    clock.increment(ms);
    await settle();
  };
  const target = async (t: string | null, jitterMs = 0) => {
    actor.send({ type: "TARGET", target: t, jitterMs });
    await settle();
  };
  const steps = (step: Step) => calls.filter((c) => c.step === step);
  return { actor, clock, calls, notes, restarts, openSwaps, advance, target, steps };
}

const actors: Actor<typeof selfUpdateMachine>[] = [];
afterEach(() => {
  for (const a of actors.splice(0)) a.stop();
});

const settle = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setTimeout(r, 0));
};

describe("self-update machine", () => {
  it("goes from a new target through download, unpack and swap to a restart request", async () => {
    const h = harness();
    await h.target("1.1.0");
    await h.advance(0);
    expect(h.calls.map((c) => `${c.step}:${c.version}`)).toEqual([
      "waitStore:1.1.0",
      "download:1.1.0",
      "unpack:1.1.0",
      "swap:1.1.0",
    ]);
    expect(h.restarts).toEqual(["1.1.0"]);
    expect(h.actor.getSnapshot().value).toBe("restarting");
  });

  it("waits the jitter drawn with the injected random before touching the store", async () => {
    const h = harness({ random: () => 0.5 });
    await h.target("1.1.0", 10 * MINUTE);
    const expected = Math.floor(0.5 * (10 * MINUTE + 1));
    await h.advance(expected - 1);
    expect(h.steps("waitStore")).toEqual([]);
    await h.advance(1);
    expect(h.steps("waitStore").map((c) => c.at)).toEqual([expected]);
  });

  it("uses the whole jitter range up to its bound", async () => {
    const h = harness({ random: () => 0.999_999 });
    await h.target("1.1.0", 60 * SECOND);
    await h.advance(60 * SECOND - 1);
    expect(h.steps("waitStore")).toEqual([]);
    await h.advance(1);
    expect(h.steps("waitStore")).toHaveLength(1);
  });

  it("restarts the decision when the target changes during the jitter wait", async () => {
    const draws = [0.5, 0.25];
    const h = harness({ random: () => draws.shift() ?? 0 });
    await h.target("1.1.0", 100 * SECOND);
    await h.advance(40 * SECOND);
    await h.target("1.2.0", 100 * SECOND);
    expect(h.notes).toContain("changed:1.1.0->1.2.0");
    // The first wait (50 s) would have ended here; the new one (25 s) counts from the change.
    await h.advance(10 * SECOND);
    expect(h.steps("waitStore")).toEqual([]);
    await h.advance(15 * SECOND);
    expect(h.steps("waitStore").map((c) => `${c.version}@${c.at}`)).toEqual([
      `1.2.0@${65 * SECOND}`,
    ]);
  });

  it("gives up the attempt when the target goes back to the running version", async () => {
    const h = harness({ random: () => 0.5 });
    await h.target("1.1.0", HOUR);
    await h.advance(MINUTE);
    await h.target("1.0.0", HOUR);
    await h.advance(2 * HOUR);
    expect(h.calls).toEqual([]);
    expect(h.actor.getSnapshot().value).toBe("idle");
  });

  it("does nothing when the target equals the running version", async () => {
    const h = harness({ facts: { running: "2.0.0" } });
    await h.target("2.0.0");
    await h.advance(HOUR);
    expect(h.calls).toEqual([]);
    expect(h.actor.getSnapshot().value).toBe("idle");
  });

  it("does nothing without a target", async () => {
    const h = harness();
    await h.target(null);
    await h.advance(HOUR);
    expect(h.calls).toEqual([]);
  });

  it("refuses a quarantined target and says why", async () => {
    const h = harness({ facts: { quarantined: ["1.1.0"] } });
    await h.target("1.1.0");
    await h.advance(HOUR);
    expect(h.calls).toEqual([]);
    expect(h.notes).toEqual(["quarantined:1.1.0"]);
    await h.target("1.1.0", 5 * SECOND);
    expect(h.notes).toEqual(["quarantined:1.1.0"]);
    // Another version is still fine.
    await h.target("1.2.0");
    await h.advance(0);
    expect(h.restarts).toEqual(["1.2.0"]);
  });

  it("compares versions as strings: a downgrade is an update too", async () => {
    const h = harness({ facts: { running: "2.0.0" } });
    await h.target("1.9.0");
    await h.advance(0);
    expect(h.restarts).toEqual(["1.9.0"]);
  });

  it("refuses a target that cannot name a folder without downloading it", async () => {
    const h = harness();
    await h.target("../../etc");
    await h.advance(HOUR);
    expect(h.calls).toEqual([]);
    expect(h.notes[0]).toMatch(/^refused:\.\.\/\.\.\/etc:target_version /);
  });

  it("retries transport failures 15 s and 45 s apart, then after an hour", async () => {
    const h = harness({ download: (n) => (n < 4 ? "transport" : "ok") });
    await h.target("1.1.0");
    await h.advance(0);
    await h.advance(15 * SECOND);
    await h.advance(45 * SECOND - 1);
    expect(h.steps("download").map((c) => c.at)).toEqual([0, 15 * SECOND]);
    await h.advance(1);
    expect(h.steps("download").map((c) => c.at)).toEqual([0, 15 * SECOND, 60 * SECOND]);
    await h.advance(HOUR - 1);
    expect(h.steps("download")).toHaveLength(3);
    await h.advance(1);
    expect(h.steps("download").map((c) => c.at)[3]).toBe(60 * SECOND + HOUR);
    // A new round of three: the next gap is 15 s again.
    await h.advance(15 * SECOND);
    expect(h.steps("download").map((c) => c.at)[4]).toBe(75 * SECOND + HOUR);
    expect(h.restarts).toEqual(["1.1.0"]);
    expect(h.notes.filter((n) => n.startsWith("retry:"))).toEqual([
      "retry:1",
      "retry:2",
      "retry:3",
      "retry:1",
    ]);
  });

  it("refuses a rejected release until the target changes", async () => {
    const h = harness({ download: (n) => (n === 0 ? "refuse" : "ok") });
    await h.target("1.1.0");
    await h.advance(0);
    expect(h.notes).toEqual(["refused:1.1.0:digest mismatch"]);
    // The same target again (any config change resends it): still refused, no retry.
    await h.target("1.1.0");
    await h.advance(2 * HOUR);
    expect(h.steps("download")).toHaveLength(1);
    expect(h.restarts).toEqual([]);
    // Changed and back: tried again.
    await h.target("1.0.0");
    await h.target("1.1.0");
    await h.advance(0);
    expect(h.steps("download")).toHaveLength(2);
    expect(h.restarts).toEqual(["1.1.0"]);
  });

  it("refuses an invalid package found while unpacking", async () => {
    const h = harness({ unpack: () => "refuse" });
    await h.target("1.1.0");
    await h.advance(HOUR);
    expect(h.notes).toEqual(["refused:1.1.0:not a kanade-agent package"]);
    expect(h.steps("swap")).toEqual([]);
    expect(h.restarts).toEqual([]);
  });

  it("ignores target changes once the swap has begun", async () => {
    const h = harness({ manualSwap: true });
    await h.target("1.1.0");
    await h.advance(0);
    expect(h.actor.getSnapshot().value).toBe("swapping");
    await h.target("1.2.0");
    expect(h.actor.getSnapshot().value).toBe("swapping");
    h.openSwaps[0]?.();
    await h.advance(0);
    expect(h.restarts).toEqual(["1.1.0"]);
  });

  it("stops on STOP", async () => {
    const h = harness();
    await h.target("1.1.0", HOUR);
    h.actor.send({ type: "STOP" });
    expect(h.actor.getSnapshot().status).toBe("done");
  });
});
