import { describe, expect, it } from "vitest";
import {
  GATE_READ_FRESH_MS,
  type GateBucket,
  GateReads,
} from "../../../src/services/commands/gateReads.js";
import { sampleCommand } from "../../helpers/commands.js";

const cmd = (requestId: string) => sampleCommand({ id: "inventory-hw", requestId });

function harness() {
  let now = 1_000;
  const reads: string[] = [];
  let value: string | null = "PUT-1";
  const gateReads = new GateReads(
    async (bucket: GateBucket, key: string) => {
      reads.push(`${bucket}/${key}@${now}`);
      return value;
    },
    { now: () => now },
  );
  return {
    gateReads,
    reads,
    tick: (ms: number) => {
      now += ms;
    },
    set: (v: string | null) => {
      value = v;
    },
    now: () => now,
  };
}

describe("gate reads (behavior.md 5.5, 5.6: reads made after the command arrived)", () => {
  it("a command's prefetched reads answer its own gates: no second round trip", async () => {
    const h = harness();
    const asker = { requestId: "a", receivedAt: h.now() };
    h.gateReads.prefetch(cmd("a"), asker);
    expect(h.reads).toHaveLength(2);
    expect(await h.gateReads.get("script_status", "inventory-hw", asker)).toBe("PUT-1");
    expect(await h.gateReads.get("script_current", "inventory-hw", asker)).toBe("PUT-1");
    expect(h.reads).toHaveLength(2);
  });

  it("never answers a command with a read that started before (or in the same ms as) its arrival", async () => {
    const h = harness();
    await h.gateReads.get("script_status", "inventory-hw", { requestId: "a", receivedAt: h.now() });
    h.set("REVOKED"); // the backend revokes, then publishes b
    const b = { requestId: "b", receivedAt: h.now() };
    expect(await h.gateReads.get("script_status", "inventory-hw", b)).toBe("REVOKED");
    h.tick(1);
    const c = { requestId: "c", receivedAt: h.now() };
    h.tick(1);
    expect(await h.gateReads.get("script_status", "inventory-hw", c)).toBe("REVOKED");
    expect(h.reads).toEqual([
      "script_status/inventory-hw@1000",
      "script_status/inventory-hw@1000",
      "script_status/inventory-hw@1002",
    ]);
  });

  it("shares a read started after many queued commands arrived (a burst costs one read)", async () => {
    const h = harness();
    const queued = Array.from({ length: 100 }, (_, i) => ({
      requestId: `q${i}`,
      receivedAt: h.now(),
    }));
    h.tick(5);
    const values = await Promise.all(
      queued.map((q) => h.gateReads.get("script_current", "inventory-hw", q)),
    );
    expect(values.every((v) => v === "PUT-1")).toBe(true);
    expect(h.reads).toEqual(["script_current/inventory-hw@1005"]);
  });

  it("a flood of arrivals prefetches once; the read made when the second is judged serves the rest", async () => {
    const h = harness();
    const flood = Array.from({ length: 100 }, (_, i) => {
      const asker = { requestId: `f${i}`, receivedAt: h.now() };
      h.gateReads.prefetch(cmd(asker.requestId), asker);
      h.tick(1); // each arrives after the read its predecessor started
      return asker;
    });
    expect(h.reads).toEqual([
      "script_current/inventory-hw@1000",
      "script_status/inventory-hw@1000",
    ]);
    h.set("REVOKED"); // written before the last command was published: it must see it
    const verdicts = await Promise.all(
      flood.map((f) => h.gateReads.get("script_status", "inventory-hw", f)),
    );
    expect(verdicts[0]).toBe("PUT-1"); // its own prefetch, started after it arrived
    expect(verdicts.slice(1).every((v) => v === "REVOKED")).toBe(true);
    expect(h.reads).toHaveLength(3);
  });

  it("prefetches again once the read out is no longer fresh", async () => {
    const h = harness();
    h.gateReads.prefetch(cmd("a"), { requestId: "a", receivedAt: h.now() });
    h.tick(GATE_READ_FRESH_MS + 1);
    h.gateReads.prefetch(cmd("b"), { requestId: "b", receivedAt: h.now() });
    expect(h.reads).toHaveLength(4);
  });

  it("reads again once the shared read is older than the freshness bound", async () => {
    const h = harness();
    const a = { requestId: "a", receivedAt: h.now() };
    h.gateReads.prefetch(cmd("a"), a);
    h.tick(GATE_READ_FRESH_MS + 1); // a waited in the queue
    h.set("PUT-2");
    expect(await h.gateReads.get("script_current", "inventory-hw", a)).toBe("PUT-2");
    expect(h.reads.at(-1)).toBe(`script_current/inventory-hw@${h.now()}`);
  });

  it("a failed read answers null (pass, behavior.md 5.8) and does not poison later asks", async () => {
    let fail = true;
    let now = 0;
    const g = new GateReads(
      async () => {
        if (fail) throw new Error("timeout");
        return "REVOKED";
      },
      { now: () => now },
    );
    expect(await g.get("script_status", "x", { requestId: "a", receivedAt: 0 })).toBeNull();
    fail = false;
    now = 1;
    expect(await g.get("script_status", "x", { requestId: "b", receivedAt: 1 })).toBe("REVOKED");
  });
});
