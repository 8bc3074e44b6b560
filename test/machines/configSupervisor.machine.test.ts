import { describe, expect, it } from "vitest";
import { createActor, fromCallback, fromPromise, SimulatedClock } from "xstate";
import {
  type ConfigSupervisorEvent,
  configSupervisorMachine,
  type PublishConfigParams,
} from "../../src/machines/configSupervisor.machine.js";
import {
  applyConfigEntry,
  type ConfigEntry,
  emptyConfigMirror,
  toConfigEntry,
} from "../../src/services/kv/configMirror.js";
import type { ConfigSnapshot } from "../../src/services/kv/configSync.js";

const PC_KEY = "pcs.me";

/** A decoded entry as the watch would send it; `null` value = DEL. */
function entry(key: string, revision: number, value: unknown): ConfigEntry {
  const raw =
    value === null
      ? { key, revision, operation: "DEL" as const, value: new Uint8Array() }
      : {
          key,
          revision,
          operation: "PUT" as const,
          value: new TextEncoder().encode(
            typeof value === "string" ? value : JSON.stringify(value),
          ),
        };
  const e = toConfigEntry(raw, PC_KEY);
  if (!e) throw new Error(`key ${key} is ignored`);
  return e;
}

function snapshot(entries: ConfigEntry[], fromRevision = 100): ConfigSnapshot {
  let mirror = emptyConfigMirror();
  for (const e of entries) mirror = applyConfigEntry(mirror, e).mirror;
  return { mirror, malformed: [], fromRevision };
}

type SyncResult = ConfigSnapshot | Error;

function harness(syncs: SyncResult[], opts: { membershipKnown?: boolean } = {}) {
  const clock = new SimulatedClock();
  const published: PublishConfigParams[] = [];
  const log: string[] = [];
  const watchInputs: number[] = [];
  let syncCalls = 0;
  let sendWatch: ((e: ConfigSupervisorEvent) => void) | null = null;
  let sendMembership: (e: ConfigSupervisorEvent) => void = () => {};
  let sendReconnect: (e: ConfigSupervisorEvent) => void = () => {};

  const machine = configSupervisorMachine.provide({
    actors: {
      fullSync: fromPromise(async () => {
        const r = syncs[Math.min(syncCalls, syncs.length - 1)];
        syncCalls++;
        if (r === undefined) throw new Error("no sync result");
        if (r instanceof Error) throw r;
        return r;
      }),
      watch: fromCallback(({ sendBack, input }) => {
        watchInputs.push(input.fromRevision);
        sendWatch = sendBack;
        return () => {
          sendWatch = null;
        };
      }),
      membership: fromCallback(({ sendBack }) => {
        sendMembership = sendBack;
        if (opts.membershipKnown ?? true) sendBack({ type: "MEMBERSHIP_CHANGED", groups: [] });
        return () => {};
      }),
      reconnects: fromCallback(({ sendBack }) => {
        sendReconnect = sendBack;
        return () => {};
      }),
    },
    actions: {
      publishConfig: (_, p) => published.push(p),
      warnMalformed: (_, p) => log.push(`malformed ${p.key}`),
      reportSyncFailure: (_, p) => log.push(`sync failed ${p.error}`),
      reportWatchEnd: (_, p) => log.push(`watch ended ${p.reason}`),
    },
  });
  const actor = createActor(machine, { clock, input: { cpus: 4 } }).start();
  return {
    actor,
    clock,
    published,
    log,
    watchInputs,
    syncCalls: () => syncCalls,
    watch: (e: ConfigEntry) => {
      if (!sendWatch) throw new Error("no watch running");
      sendWatch({ type: "CONFIG_ENTRY", entry: e });
    },
    endWatch: (reason = "gone", opened = true) =>
      sendWatch?.({ type: "WATCH_ENDED", reason, opened }),
    watching: () => sendWatch !== null,
    membership: (groups: string[]) => sendMembership({ type: "MEMBERSHIP_CHANGED", groups }),
    reconnect: () => sendReconnect({ type: "RECONNECTED" }),
  };
}

const settle = () => new Promise((r) => setTimeout(r, 0));
const lastConfig = (h: { published: PublishConfigParams[] }) => h.published.at(-1)?.config;

describe("config supervisor machine", () => {
  it("publishes nothing while the bucket is empty, then each real change once", async () => {
    const h = harness([snapshot([], 7)]);
    await settle();
    expect(h.published).toEqual([]);
    expect(h.watchInputs).toEqual([7]);

    h.watch(entry("global", 7, { heartbeat_interval: "10s" }));
    expect(h.published).toHaveLength(1);
    expect(h.published[0]?.changed).toEqual(["heartbeat_interval"]);
    expect(lastConfig(h)?.heartbeatInterval).toBe("10s");

    // Same value again, under a newer revision: nothing to publish.
    h.watch(entry("global", 8, { heartbeat_interval: "10s" }));
    expect(h.published).toHaveLength(1);

    h.watch(entry("global", 9, null));
    expect(h.published).toHaveLength(2);
    expect(lastConfig(h)?.heartbeatInterval).toBe("30s");
  });

  it("publishes nothing before the membership is known, then resolves with it", async () => {
    const h = harness(
      [
        snapshot([
          entry("global", 1, { target_version: "2.0.0" }),
          entry("groups.hold", 2, { target_version: "1.0.0" }),
        ]),
      ],
      { membershipKnown: false },
    );
    await settle();
    expect(h.watching()).toBe(true);
    h.watch(entry("global", 3, { target_version: "2.0.1" }));
    expect(h.published).toEqual([]);
    h.membership(["hold"]);
    expect(h.published).toHaveLength(1);
    expect(lastConfig(h)?.targetVersion).toBe("1.0.0");
  });

  it("publishes the synced mirror and ignores watch entries not newer than the mark", async () => {
    const h = harness([snapshot([entry("global", 5, { host_perf_interval: "15s" })])]);
    await settle();
    expect(h.published).toHaveLength(1);
    expect(lastConfig(h)?.hostPerfInterval).toBe("15s");

    h.watch(entry("global", 4, { host_perf_interval: "99s" }));
    h.watch(entry("global", 5, { host_perf_interval: "99s" }));
    expect(h.published).toHaveLength(1);
    h.watch(entry("global", 6, { host_perf_interval: "16s" }));
    expect(lastConfig(h)?.hostPerfInterval).toBe("16s");
  });

  it("keeps a key's previous value when a malformed value arrives, with a warning", async () => {
    const h = harness([snapshot([entry("global", 2, { heartbeat_interval: "7s" })])]);
    await settle();
    h.watch(entry("global", 3, "not json"));
    h.watch(entry("global", 4, { heartbeat_interval: 7 }));
    expect(h.log).toEqual(["malformed global", "malformed global"]);
    expect(h.published).toHaveLength(1);
    expect(lastConfig(h)?.heartbeatInterval).toBe("7s");
  });

  it("resolves again on a membership change, ignores other PCs and names conflicts", async () => {
    const h = harness([
      snapshot([
        entry("groups.a", 1, { heartbeat_interval: "1s" }),
        entry("groups.B", 2, { heartbeat_interval: "2s", host_perf_interval: "2s" }),
        entry(PC_KEY, 3, { target_version: "9.9.9" }),
      ]),
    ]);
    await settle();
    expect(h.published).toHaveLength(1);
    expect(h.published[0]?.changed).toEqual(["target_version"]);

    h.membership(["a", "B"]);
    expect(h.published).toHaveLength(2);
    expect(h.published[1]?.changed).toEqual(["heartbeat_interval", "host_perf_interval"]);
    expect(lastConfig(h)?.heartbeatInterval).toBe("1s"); // "a" sorts after "B"
    expect(h.published[1]?.conflicts).toEqual([
      { field: "heartbeat_interval", groups: ["B", "a"] },
    ]);

    h.membership(["B", "a"]); // same set: no change
    expect(h.published).toHaveLength(2);
    h.membership([]);
    expect(lastConfig(h)?.heartbeatInterval).toBe("30s");
    expect(lastConfig(h)?.targetVersion).toBe("9.9.9");
  });

  it("keeps the old mirror when a sync fails and tries again after 1 s", async () => {
    const h = harness([
      snapshot([entry("global", 1, { heartbeat_interval: "5s" })]),
      new Error("read of groups.x failed"),
      snapshot([entry("global", 1, { heartbeat_interval: "5s" })]),
    ]);
    await settle();
    expect(h.published).toHaveLength(1);
    h.reconnect();
    await settle();
    expect(h.syncCalls()).toBe(2);
    expect(h.log).toEqual(["sync failed read of groups.x failed"]);
    expect(h.watching()).toBe(false);
    expect(h.published).toHaveLength(1);

    h.clock.increment(999);
    await settle();
    expect(h.syncCalls()).toBe(2);
    h.clock.increment(1);
    await settle();
    expect(h.syncCalls()).toBe(3);
    expect(h.watching()).toBe(true);
    expect(h.published).toHaveLength(1); // same values as before: nothing new
  });

  it("syncs again 1 s after the watch ends, with fresh revision marks", async () => {
    const h = harness([
      snapshot([entry("global", 50, { heartbeat_interval: "5s" })], 51),
      // The bucket was re-created: empty, revisions start over.
      snapshot([], 1),
    ]);
    await settle();
    h.endWatch("bucket not found");
    expect(h.log).toEqual(["watch ended bucket not found"]);
    h.clock.increment(1_000);
    await settle();
    expect(h.syncCalls()).toBe(2);
    expect(lastConfig(h)?.heartbeatInterval).toBe("30s");
    expect(h.watchInputs).toEqual([51, 1]);

    h.watch(entry("global", 1, { heartbeat_interval: "6s" }));
    expect(lastConfig(h)?.heartbeatInterval).toBe("6s");
  });

  it("backs off when the watch cannot be re-opened, and resets once it runs", async () => {
    const h = harness([snapshot([])]);
    await settle();
    const pauseBeforeSync = async (ms: number) => {
      const before = h.syncCalls();
      h.clock.increment(ms - 1);
      await settle();
      expect(h.syncCalls()).toBe(before);
      h.clock.increment(1);
      await settle();
      expect(h.syncCalls()).toBe(before + 1);
    };
    h.endWatch("gone", true);
    await pauseBeforeSync(1_000);
    h.endWatch("could not start", false);
    await pauseBeforeSync(1_000);
    h.endWatch("could not start", false);
    await pauseBeforeSync(2_000);
    h.endWatch("could not start", false);
    await pauseBeforeSync(4_000);
    h.endWatch("gone", true);
    await pauseBeforeSync(1_000);
  });

  it("syncs again on every reconnect, stopping the running watch", async () => {
    const h = harness([snapshot([])]);
    await settle();
    expect(h.watching()).toBe(true);
    h.reconnect();
    expect(h.watching()).toBe(false);
    await settle();
    expect(h.syncCalls()).toBe(2);
    expect(h.watching()).toBe(true);
  });

  it("ends on STOP", async () => {
    const h = harness([snapshot([])]);
    await settle();
    h.actor.send({ type: "STOP" });
    expect(h.actor.getSnapshot().status).toBe("done");
    expect(h.watching()).toBe(false);
  });
});
