import { describe, expect, it } from "vitest";
import { createActor, fromCallback, fromPromise, SimulatedClock } from "xstate";
import {
  type CommandEvent,
  type CommandInput,
  commandMachine,
  type Launch,
  type ReportInput,
  type Skip,
} from "../../src/machines/command.machine.js";
import type { RunOutcome } from "../../src/services/exec/run.js";
import type { Command } from "../../src/services/wire/types.js";
import { sampleCommand } from "../helpers/commands.js";

const command = (over: Partial<Command> = {}): Command => sampleCommand({ execId: "e-1", ...over });

const empty = { head: Buffer.alloc(0), tail: Buffer.alloc(0), droppedBytes: 0, totalBytes: 0 };
const exited = (exitCode: number): RunOutcome => ({
  exitCode,
  stdout: empty,
  stderr: empty,
  notes: [],
  finishedAt: 0,
});

function harness(
  opts: {
    gate?: Skip | null;
    slot?: Promise<void>;
    jitterMs?: number;
    untilDeadline?: number;
  } = {},
) {
  const trace: string[] = [];
  const reports: ReportInput[] = [];
  let runReceive: ((e: CommandEvent) => void) | undefined;
  let runBack: ((e: CommandEvent) => void) | undefined;
  let released = 0;
  const clock = new SimulatedClock();
  const machine = commandMachine.provide({
    actors: {
      evaluateGates: fromPromise(async () => opts.gate ?? null),
      acquireSlot: fromPromise(() => opts.slot ?? Promise.resolve()),
      launch: fromPromise(async () => {
        trace.push("launch");
        return { resultId: "res-1", startedAt: 1000, spawnAt: 1000 + (opts.jitterMs ?? 0) };
      }),
      run: fromCallback<CommandEvent, { requestId: string; command: Command; launch: Launch }>(
        ({ sendBack, receive }) => {
          trace.push("run");
          runBack = sendBack;
          receive((e) => {
            trace.push(`run<-${e.type}`);
            runReceive?.(e);
          });
          return () => {};
        },
      ),
      report: fromPromise(async ({ input }) => {
        reports.push(input);
      }),
    },
    actions: {
      releaseSlot: ({ context }) => (context.holdsSlot ? released++ : undefined),
      killReceived: () => trace.push("killReceived"),
    },
    // The simulated clock starts at 0, which stands for the launch instant 1000.
    guards: {
      spawnDue: ({ context }) => 1000 + clock.now() >= (context.launch?.spawnAt ?? 0),
      launchDue: ({ event }) =>
        1000 + clock.now() >= ((event as { output?: Launch }).output?.spawnAt ?? 0),
      // The deadline tests say when it passes; the others have none (no timer while queued).
      hasDeadline: () => opts.untilDeadline !== undefined,
    },
    delays: {
      untilSpawn: ({ context }) => (context.launch ? context.launch.spawnAt - 1000 : 0),
      untilDeadline: () => opts.untilDeadline ?? 1e9,
    },
  });
  let actor: ReturnType<typeof createActor<typeof machine>> | undefined;
  const start = (input: Partial<CommandInput> = {}) => {
    actor = createActor(machine, {
      clock,
      input: { requestId: "r-1", command: command(), receivedAt: 500, ...input },
    }).start();
    return actor;
  };
  return {
    start,
    clock,
    trace,
    reports,
    released: () => released,
    exit: (code: number) => runBack?.({ type: "EXITED", outcome: exited(code) }),
    /** A `kill.<execId>` message, as the root hands it to every live command. */
    kill: (execId = "e-1") => actor?.send({ type: "KILL", execId }),
    onRunEvent: (fn: (e: CommandEvent) => void) => {
      runReceive = fn;
    },
  };
}

const settle = async (clock?: SimulatedClock) => {
  for (let i = 0; i < 5; i++) {
    clock?.increment(0); // zero-length delays (no jitter left) still go through the clock
    await new Promise((r) => setTimeout(r, 0));
  }
};

describe("command machine", () => {
  it("runs gates → queued → launching → running → reporting → done, releasing its slot", async () => {
    const h = harness();
    const actor = h.start();
    await settle(h.clock);
    expect(actor.getSnapshot().value).toEqual({ active: { running: "waiting" } });
    h.exit(0);
    await settle(h.clock);
    expect(actor.getSnapshot().value).toBe("done");
    expect(h.trace).toEqual(["launch", "run"]);
    expect(h.reports).toHaveLength(1);
    expect(h.reports[0]?.outcome?.exitCode).toBe(0);
    expect(h.reports[0]?.launch?.resultId).toBe("res-1");
    expect(h.released()).toBe(1);
  });

  it("a gate's skip is reported without launching", async () => {
    const h = harness({
      gate: { exitCode: 126, note: "skipped: m is revoked (script_status = REVOKED)" },
    });
    const actor = h.start();
    await settle(h.clock);
    expect(actor.getSnapshot().value).toBe("done");
    expect(h.trace).not.toContain("launch");
    expect(h.reports[0]?.skip).toEqual({
      exitCode: 126,
      note: "skipped: m is revoked (script_status = REVOKED)",
    });
  });

  it("a command killed while it waited in the admission backlog ends -1 without launching", async () => {
    const h = harness();
    const actor = h.start({ killedWhileWaiting: true });
    await settle(h.clock);
    expect(actor.getSnapshot().value).toBe("done");
    expect(h.trace).not.toContain("launch");
    expect(h.reports[0]?.skip).toEqual({
      exitCode: -1,
      note: "killed by remote signal (kill.e-1)",
    });
  });

  it("a rejected command goes straight to an exit-122 report", async () => {
    const h = harness();
    const actor = h.start({
      command: null,
      rejection: { note: "rejected: invalid command: shell: bad", execId: null },
    });
    await settle(h.clock);
    expect(actor.getSnapshot().value).toBe("done");
    expect(h.reports[0]?.skip).toEqual({
      exitCode: 122,
      note: "rejected: invalid command: shell: bad",
    });
  });

  it("waits the jitter before spawning and a kill during the jitter cancels the run", async () => {
    const h = harness({ jitterMs: 10_000 });
    const actor = h.start();
    await settle(h.clock);
    expect(actor.getSnapshot().value).toEqual({ active: "jitter" });
    h.clock.increment(5_000);
    h.kill();
    await settle(h.clock);
    expect(actor.getSnapshot().value).toBe("done");
    expect(h.trace).not.toContain("run");
    expect(h.reports[0]?.skip).toEqual({
      exitCode: -1,
      note: "killed by remote signal (kill.e-1)",
    });
  });

  it("spawns once the jitter has elapsed", async () => {
    const h = harness({ jitterMs: 10_000 });
    const actor = h.start();
    await settle(h.clock);
    h.clock.increment(9_999);
    expect(h.trace).not.toContain("run");
    h.clock.increment(1);
    await settle(h.clock);
    expect(actor.getSnapshot().value).toEqual({ active: { running: "waiting" } });
  });

  it("forwards a kill to the running child", async () => {
    const h = harness();
    const seen: string[] = [];
    h.onRunEvent((e) => seen.push(e.type));
    const actor = h.start();
    await settle(h.clock);
    h.kill();
    expect(seen).toEqual(["KILL"]);
    expect(actor.getSnapshot().value).toEqual({ active: { running: "waiting" } });
  });

  it("ignores a kill naming another exec_id, queued or running (every command hears every kill)", async () => {
    const h = harness({ slot: new Promise(() => {}) });
    const queued = h.start();
    await settle(h.clock);
    h.kill("e-2");
    expect(queued.getSnapshot().value).toEqual({ active: { queued: "unbounded" } });

    const r = harness();
    const seen: string[] = [];
    r.onRunEvent((e) => seen.push(e.type));
    const running = r.start();
    await settle(r.clock);
    r.kill("e-2");
    expect(seen).toEqual([]);
    expect(running.getSnapshot().value).toEqual({ active: { running: "waiting" } });
    expect(h.trace.concat(r.trace)).not.toContain("killReceived");
    r.kill("e-1");
    expect(seen).toEqual(["KILL"]);
    expect(r.trace).toContain("killReceived");
  });

  it("a command without an exec_id cannot be killed (7.2), not even by an empty one", async () => {
    const h = harness();
    const seen: string[] = [];
    h.onRunEvent((e) => seen.push(e.type));
    const actor = h.start({ command: command({ execId: null }) });
    await settle(h.clock);
    h.kill("");
    expect(seen).toEqual([]);
    expect(actor.getSnapshot().value).toEqual({ active: { running: "waiting" } });
  });

  it("a deadline passing while queued ends with exit 125 and no launch", async () => {
    const h = harness({ slot: new Promise(() => {}), untilDeadline: 2_000 });
    const actor = h.start();
    await settle(h.clock);
    expect(actor.getSnapshot().value).toEqual({ active: { queued: "waiting" } });
    h.clock.increment(2_000);
    await settle(h.clock);
    expect(actor.getSnapshot().value).toBe("done");
    expect(h.trace).not.toContain("launch");
    expect(h.reports[0]?.skip).toEqual({ exitCode: 125 });
    expect(h.released()).toBe(0);
  });

  it("a far deadline is waited for in laps: an early timer re-arms instead of skipping", async () => {
    let passed = false;
    const h = harness({ slot: new Promise(() => {}), untilDeadline: 1_000 });
    const machine = h.start().logic.provide({ guards: { deadlinePassed: () => passed } });
    const actor = createActor(machine, {
      clock: h.clock,
      input: { requestId: "r-2", command: command(), receivedAt: 0 },
    }).start();
    await settle(h.clock);
    h.clock.increment(1_000);
    await settle(h.clock);
    expect(actor.getSnapshot().value).toEqual({ active: { queued: "waiting" } });
    passed = true;
    h.clock.increment(1_000);
    await settle(h.clock);
    expect(actor.getSnapshot().value).toBe("done");
  });

  it("a queued command without a deadline waits unbounded and a kill still ends it", async () => {
    const h = harness({ slot: new Promise(() => {}) });
    const actor = h.start();
    await settle(h.clock);
    expect(actor.getSnapshot().value).toEqual({ active: { queued: "unbounded" } });
    h.kill();
    await settle(h.clock);
    expect(actor.getSnapshot().value).toBe("done");
    expect(h.reports[0]?.skip).toEqual({
      exitCode: -1,
      note: "killed by remote signal (kill.e-1)",
    });
    expect(h.trace).not.toContain("launch");
  });

  it("an agent stop abandons a queued command (it stays in the ledger) without a result", async () => {
    const h = harness({ slot: new Promise(() => {}) });
    const actor = h.start();
    await settle(h.clock);
    actor.send({ type: "AGENT_STOPPING" });
    expect(actor.getSnapshot().value).toBe("abandoned");
    expect(h.reports).toHaveLength(0);
  });

  it("an agent stop lets a running child go on for 1.5 s, then asks it to stop", async () => {
    const h = harness();
    const seen: string[] = [];
    h.onRunEvent((e) => seen.push(e.type));
    const actor = h.start();
    await settle(h.clock);
    actor.send({ type: "AGENT_STOPPING" });
    h.clock.increment(1_499);
    expect(seen).toEqual([]);
    h.clock.increment(1);
    expect(seen).toEqual(["AGENT_STOPPING"]);
    h.exit(-1);
    await settle(h.clock);
    expect(actor.getSnapshot().value).toBe("done");
    expect(h.reports).toHaveLength(1);
  });

  it("a recovered launching record resumes at the jitter wait without launching again", async () => {
    const h = harness();
    const actor = h.start({ resume: { resultId: "res-0", startedAt: 100, spawnAt: 100 } });
    await settle(h.clock);
    expect(actor.getSnapshot().value).toEqual({ active: { running: "waiting" } });
    expect(h.trace).not.toContain("launch");
    h.exit(0);
    await settle(h.clock);
    expect(h.reports[0]?.launch?.resultId).toBe("res-0");
  });
});
