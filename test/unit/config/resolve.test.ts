import { describe, expect, it } from "vitest";
import {
  diffEffectiveConfig,
  resolveEffectiveConfig,
} from "../../../src/services/config/resolve.js";
import {
  applyConfigEntry,
  classifyConfigKey,
  emptyConfigMirror,
  toConfigEntry,
} from "../../../src/services/kv/configMirror.js";
import { defaultEffectiveConfig } from "../../../src/services/wire/configScope.js";
import type { ConfigScope } from "../../../src/services/wire/types.js";

const groups = (entries: Record<string, ConfigScope>) => new Map(Object.entries(entries));

describe("resolveEffectiveConfig", () => {
  it("is the built-in defaults when no scope is set", () => {
    const r = resolveEffectiveConfig({ groups: new Map(), membership: [], cpus: 6 });
    expect(r.config).toEqual(defaultEffectiveConfig(6));
    expect(r.config.maxLocalConcurrent).toBe(6);
    expect(r.conflicts).toEqual([]);
  });

  it("layers defaults ← global ← member groups ← pcs.<pc_id>", () => {
    const r = resolveEffectiveConfig({
      global: { heartbeatInterval: "10s", hostPerfInterval: "20s", targetVersion: "1.0.0" },
      groups: groups({ canary: { hostPerfInterval: "5s", targetVersion: "1.1.0" } }),
      pc: { targetVersion: "2.0.0" },
      membership: ["canary"],
      cpus: 4,
    });
    expect(r.config).toEqual({
      ...defaultEffectiveConfig(4),
      heartbeatInterval: "10s", // global
      hostPerfInterval: "5s", // group over global
      targetVersion: "2.0.0", // pc over group
    });
  });

  it("applies groups in ascending byte order, last wins, and lists the conflicts", () => {
    // Byte order: "B" (0x42) < "a" (0x61), although "a" < "B" in locale order.
    const r = resolveEffectiveConfig({
      groups: groups({
        a: { heartbeatInterval: "1s", inventoryEnabled: false },
        B: { heartbeatInterval: "2s", processPerfTopN: 7 },
      }),
      membership: ["a", "B"],
      cpus: 2,
    });
    expect(r.config.heartbeatInterval).toBe("1s");
    expect(r.config.processPerfTopN).toBe(7);
    expect(r.config.inventoryEnabled).toBe(false);
    expect(r.conflicts).toEqual([{ field: "heartbeat_interval", groups: ["B", "a"] }]);
  });

  it("ignores groups the agent is not a member of, and members without a scope", () => {
    const r = resolveEffectiveConfig({
      groups: groups({ other: { heartbeatInterval: "3s" }, mine: { hostPerfInterval: "9s" } }),
      membership: ["mine", "nogroupscope"],
      cpus: 1,
    });
    expect(r.config.heartbeatInterval).toBe("30s");
    expect(r.config.hostPerfInterval).toBe("9s");
    expect(r.conflicts).toEqual([]);
  });

  it("reports a conflict even when pcs.<pc_id> overrides the member", () => {
    const r = resolveEffectiveConfig({
      groups: groups({ g1: { targetVersion: "1" }, g2: { targetVersion: "2" }, g3: {} }),
      pc: { targetVersion: "3" },
      membership: ["g3", "g2", "g1", "g2"],
      cpus: 1,
    });
    expect(r.config.targetVersion).toBe("3");
    expect(r.conflicts).toEqual([{ field: "target_version", groups: ["g1", "g2"] }]);
  });
});

describe("diffEffectiveConfig", () => {
  it("names the changed members by their wire names", () => {
    const a = defaultEffectiveConfig(4);
    expect(diffEffectiveConfig(a, { ...a })).toEqual([]);
    expect(
      diffEffectiveConfig(a, { ...a, heartbeatInterval: "5s", targetVersion: "1.2.3" }),
    ).toEqual(["target_version", "heartbeat_interval"]);
  });
});

describe("agent_config keys and entries", () => {
  const bytes = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

  it("classifies global, groups.<g> (dots kept) and only this PC's pcs key", () => {
    const pcKey = "pcs.pc1.corp";
    expect(classifyConfigKey("global", pcKey)).toEqual({ kind: "global" });
    expect(classifyConfigKey("groups.wave.1", pcKey)).toEqual({ kind: "group", name: "wave.1" });
    expect(classifyConfigKey("pcs.pc1.corp", pcKey)).toEqual({ kind: "pc" });
    expect(classifyConfigKey("pcs.pc2", pcKey)).toBeNull();
    expect(classifyConfigKey("pcs.pc1", pcKey)).toBeNull();
    expect(classifyConfigKey("target_version", pcKey)).toBeNull();
    expect(classifyConfigKey("pcs.pc1.corp", null)).toBeNull();
  });

  it("keeps the previous value for a malformed PUT and removes on DEL/PURGE", () => {
    const put = (revision: number, value: unknown) =>
      toConfigEntry({ key: "global", revision, operation: "PUT", value: bytes(value) }, null)!;
    let m = applyConfigEntry(emptyConfigMirror(), put(3, { heartbeat_interval: "9s" })).mirror;
    expect(m.global).toEqual({ heartbeatInterval: "9s" });

    const bad = applyConfigEntry(m, put(4, { heartbeat_interval: 9 }));
    expect(bad.outcome).toBe("malformed");
    expect(bad.mirror.global).toEqual({ heartbeatInterval: "9s" });
    m = bad.mirror;

    const stale = applyConfigEntry(m, put(4, { heartbeat_interval: "1s" }));
    expect(stale.outcome).toBe("stale");
    expect(stale.mirror.global).toEqual({ heartbeatInterval: "9s" });

    for (const operation of ["DEL", "PURGE"] as const) {
      const removed = applyConfigEntry(
        m,
        toConfigEntry({ key: "global", revision: 5, operation, value: new Uint8Array() }, null)!,
      );
      expect(removed.mirror.global).toBeNull();
    }
  });
});
