import { describe, expect, it } from "vitest";
import { createActor, fromCallback, fromPromise, SimulatedClock } from "xstate";
import {
  type FireInput,
  type FireOutcome,
  type LoadedSchedulerState,
  type LocalSchedulerEvent,
  type LogParams,
  localSchedulerMachine,
} from "../../src/machines/localScheduler.machine.js";
import { parseCron } from "../../src/services/schedules/cron.js";
import type { SyncedMirror } from "../../src/services/schedules/kvMirror.js";
import type { ScheduleEntry, ScheduleMirror } from "../../src/services/schedules/mirror.js";
import type { LocalCompletions, Manifest, Schedule } from "../../src/services/wire/types.js";

const T0 = Date.UTC(2026, 4, 16, 10, 0, 0);

function schedule(overrides: Partial<Schedule> = {}): Schedule {
  return {
    id: "s1",
    cron: "* * * * * *",
    jobId: "j1",
    target: { all: true, pcs: [], groups: [] },
    mode: "every_tick",
    runsOn: "agent",
    enabled: true,
    ...overrides,
  };
}

function entry(s: Schedule): ScheduleEntry {
  const parsed = parseCron(s.cron);
  if (!parsed.ok) throw new Error(parsed.problem);
  return { schedule: s, cron: parsed.cron };
}

const job: Manifest = {
  id: "j1",
  version: "1.0.0",
  execute: { shell: "sh", script: "true", runAs: "system" },
  staleness: { mode: "cached" },
};

function mirrorOf(schedules: Schedule[], jobs: Manifest[] = [job]): ScheduleMirror {
  return {
    schedules: new Map(schedules.map((s) => [s.id, entry(s)])),
    jobs: new Map(jobs.map((j) => [j.id, j])),
  };
}

interface Fire {
  input: FireInput;
  end: (outcome: FireOutcome | null) => void;
}

const settle = () => new Promise((r) => setTimeout(r, 0));

async function harness(loaded: Partial<LoadedSchedulerState> = {}, initialGroups?: string[]) {
  const clock = new SimulatedClock();
  clock.set(T0);
  const fires: Fire[] = [];
  const caches: { mirror: ScheduleMirror; membership: readonly string[] | null }[] = [];
  const completionWrites: LocalCompletions[] = [];
  const logs: LogParams[] = [];
  let readCalls = 0;
  let finishRead: (m: SyncedMirror) => void = () => {};
  let watchers = 0;
  let toParent: (e: LocalSchedulerEvent) => void = () => {};

  const machine = localSchedulerMachine.provide({
    actors: {
      loadState: fromPromise(async () => ({
        mirror: loaded.mirror ?? mirrorOf([]),
        membership: loaded.membership ?? null,
        completions: loaded.completions ?? new Map(),
      })),
      readMirror: fromPromise<SyncedMirror>(() => {
        readCalls++;
        return new Promise((resolve) => {
          finishRead = resolve;
        });
      }),
      watchMirror: fromCallback(() => {
        watchers++;
        return () => {
          watchers--;
        };
      }),
      watchReconnects: fromCallback<LocalSchedulerEvent>(({ sendBack }) => {
        toParent = sendBack;
        return () => {};
      }),
      watchMembership: fromCallback<LocalSchedulerEvent>(({ sendBack }) => {
        if (initialGroups)
          sendBack({ type: "MEMBERSHIP_CHANGED", groups: initialGroups, initial: true });
        return () => {};
      }),
      fire: fromCallback<LocalSchedulerEvent, FireInput>(({ input, sendBack }) => {
        fires.push({
          input,
          end: (outcome) =>
            sendBack({ type: "FIRE_ENDED", key: input.key, schedule: input.schedule, outcome }),
        });
        return () => {};
      }),
    },
    actions: {
      persistCache: (_, p) => caches.push(p),
      persistCompletions: (_, p) => completionWrites.push(p.completions),
      log: (_, p) => logs.push(p),
    },
  });
  const actor = createActor(machine, {
    clock,
    input: { pcId: "pc-1", now: () => clock.now() },
  }).start();
  await settle();
  return {
    actor,
    clock,
    fires,
    caches,
    completionWrites,
    logs,
    readCalls: () => readCalls,
    watchers: () => watchers,
    finishRead: async (m: ScheduleMirror) => {
      finishRead({ mirror: m, resume: {} as SyncedMirror["resume"] });
      await settle();
    },
    send: async (e: LocalSchedulerEvent) => {
      actor.send(e);
      await settle();
    },
    /** An event as the service actors send it (membership, reconnect, watch). */
    fromService: async (e: LocalSchedulerEvent) => {
      toParent(e);
      await settle();
    },
    seconds: async (n: number) => {
      for (let i = 0; i < n; i++) {
        clock.increment(1000);
        await settle();
      }
    },
    /** Ends every open fire with `outcome`. */
    endAll: async (outcome: FireOutcome | null) => {
      for (const f of fires.splice(0)) f.end(outcome);
      await settle();
    },
  };
}

const ok = (finishedAt = T0): FireOutcome => ({ exitCode: 0, finishedAt });

describe("local scheduler machine (behavior.md §16)", () => {
  it("fires cached schedules every tick without a broker", async () => {
    const h = await harness({ mirror: mirrorOf([schedule()]) });
    const fired: FireInput[] = [];
    for (let i = 0; i < 3; i++) {
      await h.seconds(1);
      expect(h.fires).toHaveLength(1);
      fired.push(h.fires[0]!.input);
      await h.endAll(ok());
    }
    expect(fired.map((f) => f.firedAt)).toEqual([T0 + 1000, T0 + 2000, T0 + 3000]);
    expect(fired[0]).toMatchObject({ key: "s1", manifest: job, schedule: { id: "s1" } });
    expect(h.readCalls()).toBe(1);
  });

  it("does not overlap a schedule with its own unfinished run", async () => {
    const h = await harness({ mirror: mirrorOf([schedule()]) });
    await h.seconds(3);
    expect(h.fires).toHaveLength(1);
    const skips = h.logs.filter((l) => l.msg.includes("previous run has not finished"));
    expect(skips).toHaveLength(1);
    await h.endAll(ok());
    await h.seconds(1);
    expect(h.fires).toHaveLength(1);
  });

  it("skips ticks while the job is not cached and fires once it arrives", async () => {
    const h = await harness({ mirror: mirrorOf([schedule()], []) });
    await h.seconds(2);
    expect(h.fires).toHaveLength(0);
    expect(h.logs.some((l) => l.msg.includes("job j1 is not cached"))).toBe(true);
    await h.send({ type: "MIRROR_CHANGED", change: { bucket: "jobs", key: "j1", manifest: job } });
    await h.seconds(1);
    expect(h.fires).toHaveLength(1);
  });

  it("once_per_pc: only exit 0 completes it, and then it never fires again", async () => {
    const h = await harness({ mirror: mirrorOf([schedule({ mode: "once_per_pc" })]) });
    await h.seconds(1);
    await h.endAll({ exitCode: 125, finishedAt: T0 + 1000 });
    expect(h.completionWrites).toHaveLength(0);
    await h.seconds(1);
    await h.endAll({ exitCode: 1, finishedAt: T0 + 2000 });
    await h.seconds(1);
    expect(h.completionWrites).toHaveLength(0);
    await h.endAll(ok(T0 + 3500));
    expect(h.completionWrites).toEqual([new Map([["s1::j1", T0 + 3500]])]);
    await h.seconds(5);
    expect(h.fires).toHaveLength(0);
  });

  it("once_per_target with a cooldown fires again once it has passed", async () => {
    const h = await harness({
      mirror: mirrorOf([schedule({ mode: "once_per_target", cooldown: "5s" })]),
      completions: new Map([["s1::j1", T0]]),
    });
    await h.seconds(4);
    expect(h.fires).toHaveLength(0);
    await h.seconds(1);
    expect(h.fires).toHaveLength(1);
  });

  it("a recorded completion without cooldown survives into a new scheduler", async () => {
    const h = await harness({
      mirror: mirrorOf([schedule({ mode: "once_per_pc" })]),
      completions: new Map([["s1::j1", T0 - 86_400_000]]),
    });
    await h.seconds(3);
    expect(h.fires).toHaveLength(0);
  });

  it("every_tick runs do not write completions", async () => {
    const h = await harness({ mirror: mirrorOf([schedule()]) });
    await h.seconds(1);
    await h.endAll(ok());
    expect(h.completionWrites).toHaveLength(0);
  });

  it("applies disable, enable and a new cron at once", async () => {
    const hourly = schedule({ cron: "0 0 * * * *" });
    const h = await harness({ mirror: mirrorOf([hourly]) });
    await h.seconds(2);
    expect(h.fires).toHaveLength(0);
    const put = (s: Schedule) =>
      h.send({
        type: "MIRROR_CHANGED",
        change: { bucket: "schedules", key: "s1", entry: entry(s) },
      });
    await put(schedule());
    await h.seconds(1);
    expect(h.fires).toHaveLength(1);
    await h.endAll(ok());
    await put(schedule({ enabled: false }));
    expect(h.caches.at(-1)?.mirror.schedules.get("s1")?.schedule.enabled).toBe(false);
    await h.seconds(3);
    expect(h.fires).toHaveLength(0);
    await put(schedule());
    await h.seconds(1);
    expect(h.fires).toHaveLength(1);
    await h.endAll(ok());
    await h.send({
      type: "MIRROR_CHANGED",
      change: { bucket: "schedules", key: "s1", entry: null },
    });
    await h.seconds(2);
    expect(h.fires).toHaveLength(0);
  });

  it("follows the membership; the cached one stands until the groups manager reports", async () => {
    const forG1 = schedule({ target: { all: false, pcs: [], groups: ["g1"] } });
    const h = await harness({ mirror: mirrorOf([forG1]), membership: ["g1"] }, []);
    await h.seconds(1);
    expect(h.fires).toHaveLength(1);
    await h.endAll(ok());
    await h.fromService({ type: "MEMBERSHIP_CHANGED", groups: ["g2"], initial: false });
    expect(h.caches.at(-1)?.membership).toEqual(["g2"]);
    await h.seconds(2);
    expect(h.fires).toHaveLength(0);
    await h.fromService({ type: "MEMBERSHIP_CHANGED", groups: ["g0", "g1"], initial: false });
    await h.seconds(1);
    expect(h.fires).toHaveLength(1);
  });

  it("matches its own pc_id and nothing else", async () => {
    const h = await harness({
      mirror: mirrorOf([
        schedule({ id: "mine", target: { all: false, pcs: ["pc-1"], groups: [] } }),
        schedule({ id: "other", target: { all: false, pcs: ["pc-2"], groups: ["g9"] } }),
      ]),
    });
    await h.seconds(1);
    expect(h.fires.map((f) => f.input.key)).toEqual(["mine"]);
  });

  it("replaces the mirror on a sync, then watches; re-reads 1 s after the watch ends and on reconnect", async () => {
    const h = await harness({ mirror: mirrorOf([schedule({ id: "old" })]) });
    expect(h.watchers()).toBe(0);
    await h.finishRead(mirrorOf([schedule({ id: "new" })]));
    expect(h.watchers()).toBe(1);
    expect([...(h.caches.at(-1)?.mirror.schedules.keys() ?? [])]).toEqual(["new"]);
    // Changes while watching neither restart the watch nor cause a re-read.
    await h.send({ type: "MIRROR_CHANGED", change: { bucket: "jobs", key: "j2", manifest: job } });
    await h.fromService({ type: "MEMBERSHIP_CHANGED", groups: ["g1"], initial: false });
    expect(h.watchers()).toBe(1);
    expect(h.readCalls()).toBe(1);
    await h.seconds(1);
    expect(h.fires.map((f) => f.input.key)).toEqual(["new"]);
    await h.endAll(ok());

    await h.send({ type: "WATCH_ENDED", reason: "bucket not found" });
    expect(h.watchers()).toBe(0);
    expect(h.readCalls()).toBe(1);
    h.clock.increment(999);
    await settle();
    expect(h.readCalls()).toBe(1);
    h.clock.increment(1);
    await settle();
    expect(h.readCalls()).toBe(2);

    await h.finishRead(mirrorOf([schedule({ id: "new" })]));
    expect(h.watchers()).toBe(1);
    await h.fromService({ type: "RECONNECTED" });
    expect(h.watchers()).toBe(0);
    expect(h.readCalls()).toBe(3);
  });

  it("does not catch up missed ticks: a short stall fires once, a long one not at all", async () => {
    const h = await harness({ mirror: mirrorOf([schedule()]) });
    h.clock.increment(10_000);
    await settle();
    expect(h.fires).toHaveLength(1);
    await h.endAll(ok());
    h.clock.increment(120_000);
    await settle();
    expect(h.fires).toHaveLength(0);
    expect(h.logs.some((l) => l.msg === "schedule tick missed")).toBe(true);
    await h.seconds(1);
    expect(h.fires).toHaveLength(1);
  });

  it("stops firing on STOP", async () => {
    const h = await harness({ mirror: mirrorOf([schedule()]) });
    await h.send({ type: "STOP" });
    expect(h.actor.getSnapshot().status).toBe("done");
    await h.seconds(3);
    expect(h.fires).toHaveLength(0);
  });
});
