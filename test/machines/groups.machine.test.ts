import { describe, expect, it } from "vitest";
import { createActor, fromCallback, fromPromise, SimulatedClock } from "xstate";
import { type GroupsEvent, groupsMachine } from "../../src/machines/groups.machine.js";
import { interpretGroupsEntry, type MembershipEntry } from "../../src/services/kv/groupsRead.js";

/** What a read or watch entry of agent_groups.<pc_id> would carry; `null` = DEL. */
function entry(revision: number, value: unknown): MembershipEntry {
  if (value === null)
    return {
      revision,
      read: interpretGroupsEntry({
        key: "me",
        revision,
        operation: "DEL",
        value: new Uint8Array(),
      }),
    };
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return {
    revision,
    read: interpretGroupsEntry({
      key: "me",
      revision,
      operation: "PUT",
      value: new TextEncoder().encode(text),
    }),
  };
}

type ReadResult = (MembershipEntry & { fromRevision: number }) | Error;

function harness(reads: ReadResult[], opts: { kvUsable?: boolean } = {}) {
  const clock = new SimulatedClock();
  const published: (readonly string[])[] = [];
  const log: string[] = [];
  const watchInputs: number[] = [];
  let readCalls = 0;
  let known = 0;
  let sendWatch: ((e: GroupsEvent) => void) | null = null;
  let sendReconnect: (e: GroupsEvent) => void = () => {};

  const machine = groupsMachine.provide({
    actors: {
      readGroups: fromPromise(async () => {
        const r = reads[Math.min(readCalls, reads.length - 1)];
        readCalls++;
        if (r === undefined) throw new Error("no read result");
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
      reconnects: fromCallback(({ sendBack }) => {
        sendReconnect = sendBack;
        return () => {};
      }),
    },
    guards: { kvUsable: () => opts.kvUsable ?? true },
    actions: {
      publishMembership: (_, p) => published.push(p.groups),
      markKnown: () => known++,
      warnMalformed: (_, p) => log.push(`malformed: ${p.problem}`),
      warnDropped: (_, p) => log.push(`dropped ${p.name}`),
      reportReadFailure: (_, p) => log.push(`read failed ${p.error}`),
      reportWatchEnd: (_, p) => log.push(`watch ended ${p.reason}`),
    },
  });
  const actor = createActor(machine, { clock }).start();
  return {
    actor,
    clock,
    published,
    log,
    watchInputs,
    readCalls: () => readCalls,
    known: () => known,
    membership: () => actor.getSnapshot().context.membership,
    watch: (e: MembershipEntry) => {
      if (!sendWatch) throw new Error("no watch running");
      sendWatch({ type: "GROUPS_ENTRY", entry: e });
    },
    endWatch: (reason = "gone", opened = true) =>
      sendWatch?.({ type: "WATCH_ENDED", reason, opened }),
    watching: () => sendWatch !== null,
    reconnect: () => sendReconnect({ type: "RECONNECTED" }),
  };
}

const settle = () => new Promise((r) => setTimeout(r, 0));
const read = (revision: number, value: unknown, fromRevision = revision + 1) => ({
  ...entry(revision, value),
  fromRevision,
});

describe("groups machine", () => {
  it("publishes the sorted, de-duplicated membership and marks it known once", async () => {
    const h = harness([read(3, { groups: ["wave1", "canary", "wave1"] }, 9)]);
    await settle();
    expect(h.published).toEqual([["canary", "wave1"]]);
    expect(h.known()).toBe(1);
    expect(h.watchInputs).toEqual([9]);
  });

  it("marks an empty membership known without publishing when there is no entry", async () => {
    const h = harness([{ revision: 0, read: { kind: "none" }, fromRevision: 1 }]);
    await settle();
    expect(h.published).toEqual([]);
    expect(h.known()).toBe(1);
    expect(h.watching()).toBe(true);
  });

  it("follows joins and leaves from the watch, publishing only real changes", async () => {
    const h = harness([read(1, { groups: ["a"] })]);
    await settle();
    h.watch(entry(2, { groups: ["a", "b"] }));
    h.watch(entry(3, { groups: ["b", "a"] })); // same membership
    h.watch(entry(2, { groups: ["stale"] })); // not newer than the last applied entry
    h.watch(entry(4, null));
    expect(h.published).toEqual([["a"], ["a", "b"], []]);
    expect(h.known()).toBe(1);
  });

  it("treats a malformed value as no membership and drops invalid names, with warnings", async () => {
    const h = harness([read(1, { groups: ["ok", "bad name", "x.", "good"] })]);
    await settle();
    expect(h.membership()).toEqual(["good", "ok"]);
    expect(h.log).toEqual(["dropped bad name", "dropped x."]);
    h.watch(entry(2, {}));
    expect(h.membership()).toEqual([]);
    expect(h.log.at(-1)).toMatch(/^malformed: groups/);
  });

  it("pauses 1 s after a read error and reads again, membership untouched", async () => {
    const h = harness([
      read(1, { groups: ["a"] }),
      new Error("timeout"),
      read(5, { groups: ["b"] }),
    ]);
    await settle();
    expect(h.membership()).toEqual(["a"]);
    h.reconnect();
    await settle();
    expect(h.readCalls()).toBe(2);
    expect(h.log).toEqual(["read failed timeout"]);
    expect(h.membership()).toEqual(["a"]);
    h.clock.increment(999);
    await settle();
    expect(h.readCalls()).toBe(2);
    h.clock.increment(1);
    await settle();
    expect(h.readCalls()).toBe(3);
    expect(h.membership()).toEqual(["b"]);
    expect(h.known()).toBe(2); // the wiring resolves its promise once; later calls are no-ops
  });

  it("reads again 1 s after the watch ends and at once after a reconnect", async () => {
    const h = harness([read(1, { groups: ["a"] })]);
    await settle();
    h.endWatch("bucket not found");
    expect(h.watching()).toBe(false);
    h.clock.increment(1_000);
    await settle();
    expect(h.readCalls()).toBe(2);
    expect(h.watching()).toBe(true);
    h.reconnect();
    await settle();
    expect(h.readCalls()).toBe(3);
    expect(h.published).toEqual([["a"]]);
  });

  it("skips everything when the pc_id cannot be a KV key", async () => {
    const h = harness([read(1, { groups: ["a"] })], { kvUsable: false });
    await settle();
    expect(h.readCalls()).toBe(0);
    expect(h.known()).toBe(1);
    expect(h.published).toEqual([]);
    h.actor.send({ type: "STOP" });
    expect(h.actor.getSnapshot().status).toBe("done");
  });
});
