import type { KvEntry } from "@nats-io/kv";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openExistingBucket } from "../../../src/services/kv/bucket.js";
import { readConfigSnapshot } from "../../../src/services/kv/configSync.js";
import { watchKv } from "../../../src/services/kv/watch.js";
import { bootstrapKanade } from "../../../src/services/nats/resources.js";
import { NatsServer } from "../../helpers/natsServer.js";
import { waitFor } from "../../helpers/waitFor.js";
import {
  type ControlPlane,
  DEFAULTS,
  type Operator,
  operator,
  startControlPlane,
  waitForConfig,
  waitForLog,
} from "./controlPlane.js";

let server: NatsServer;
let op: Operator;
let cp: ControlPlane | undefined;

beforeEach(async () => {
  server = await NatsServer.start();
  op = await operator(server);
  await bootstrapKanade(op.nc);
});

afterEach(async () => {
  await cp?.stop();
  cp = undefined;
  await op.close();
  await server.stop();
});

describe("config supervisor and groups manager against a real broker", () => {
  it("layers global ← member groups in byte order ← pcs.<pc_id>, ignoring other PCs", async () => {
    await op.putGroups("pc-1", { groups: ["a", "B"] });
    await op.putConfig("global", {
      heartbeat_interval: "11s",
      host_perf_interval: "12s",
      target_version: "1.0.0",
    });
    await op.putConfig("groups.a", { host_perf_interval: "13s", inventory_enabled: false });
    await op.putConfig("groups.B", { host_perf_interval: "14s", process_perf_top_n: 7 });
    await op.putConfig("groups.other", { inventory_jitter: "5s" });
    await op.putConfig("pcs.pc-1", { target_version: "2.0.0" });
    await op.putConfig("pcs.pc-2", { heartbeat_interval: "99s", target_version: "9.9.9" });
    await op.putConfig("target_version", "3.0.0"); // legacy key, ignored

    cp = await startControlPlane(server, { pcId: "pc-1" });
    await cp.known;
    expect(cp.membership$.value).toEqual(["B", "a"]);
    const expected = {
      ...DEFAULTS,
      heartbeatInterval: "11s",
      hostPerfInterval: "13s", // "a" comes after "B" in byte order and wins
      inventoryEnabled: false,
      processPerfTopN: 7,
      targetVersion: "2.0.0",
    };
    await waitForConfig(cp, (c) => JSON.stringify(c) === JSON.stringify(expected), "layered");
    const conflict = await waitForLog(cp, (l) => l.field === "host_perf_interval", "conflict");
    expect(conflict.level).toBe("warn");
    expect(conflict.groups).toEqual(["B", "a"]);

    // Live: a change to another PC's scope changes nothing; one to ours does.
    await op.putConfig("pcs.pc-2", { heartbeat_interval: "98s" });
    await op.putConfig("groups.B", { host_perf_interval: "14s", process_perf_top_n: 8 });
    await waitForConfig(cp, (c) => c.processPerfTopN === 8, "group B update");
    expect(cp.config$.value.heartbeatInterval).toBe("11s");
  });

  it("drops a layer on DEL and on PURGE", async () => {
    cp = await startControlPlane(server);
    await op.putConfig("global", { heartbeat_interval: "20s" });
    await op.putConfig("pcs.pc-1", { heartbeat_interval: "21s" });
    await waitForConfig(cp, (c) => c.heartbeatInterval === "21s", "pc layer");

    const kv = await op.config();
    await kv.delete("pcs.pc-1");
    await waitForConfig(cp, (c) => c.heartbeatInterval === "20s", "pc layer deleted");
    await kv.purge("global");
    await waitForConfig(cp, (c) => c.heartbeatInterval === "30s", "global purged");
    expect(cp.config$.value).toEqual(DEFAULTS);
  });

  it("warns about malformed values and keeps the key's previous value", async () => {
    await op.putConfig("groups.x", "{not json");
    cp = await startControlPlane(server);
    await waitForLog(cp, (l) => l.key === "groups.x" && l.level === "warn", "sync-time warning");

    await op.putConfig("global", { host_perf_interval: "40s" });
    await waitForConfig(cp, (c) => c.hostPerfInterval === "40s", "valid global");
    await op.putConfig("global", { host_perf_interval: 40 });
    const warning = await waitForLog(
      cp,
      (l) => l.key === "global" && l.level === "warn",
      "malformed global warning",
    );
    expect(String(warning.problem)).toMatch(/host_perf_interval/);
    expect(cp.config$.value.hostPerfInterval).toBe("40s");

    await op.putConfig("global", { host_perf_interval: "41s" });
    await waitForConfig(cp, (c) => c.hostPerfInterval === "41s", "valid again");
  });

  it("publishes the config only when it really changes", async () => {
    cp = await startControlPlane(server);
    await waitForLog(cp, (l) => /agent_config synced/.test(l.msg), "first sync");
    expect(cp.configs).toEqual([DEFAULTS]);

    await op.putConfig("global", { inventory_interval: "2h" });
    await waitForConfig(cp, (c) => c.inventoryInterval === "2h", "first put");
    await op.putConfig("global", { inventory_interval: "2h" });
    await op.putConfig("groups.none", { inventory_interval: "3h" }); // not a member: no change
    await op.putConfig("pcs.pc-1", { inventory_check_interval: "2h" }); // marker
    await waitForConfig(cp, (c) => c.inventoryCheckInterval === "2h", "marker put");
    expect(cp.configs.map((c) => [c.inventoryInterval, c.inventoryCheckInterval])).toEqual([
      ["24h", "1h"],
      ["2h", "1h"],
      ["2h", "2h"],
    ]);
    const changes = cp.logs.filter((l) => l.msg === "effective config changed");
    expect(changes.map((l) => l.changed)).toEqual([
      { inventory_interval: "2h" },
      { inventory_check_interval: "2h" },
    ]);
  });

  it("follows group joins and leaves in the membership and the resolved config", async () => {
    await op.putConfig("groups.canary", { target_version: "5.0.0" });
    await op.putConfig("groups.wave.1", { heartbeat_interval: "15s" });
    cp = await startControlPlane(server);
    await cp.known;
    expect(cp.membership$.value).toEqual([]);

    await op.putGroups("pc-1", { groups: ["canary", "bad name"] });
    await waitFor(() => cp?.membership$.value.join() === "canary", { what: "join canary" });
    await waitForConfig(cp, (c) => c.targetVersion === "5.0.0", "canary scope applied");
    expect(cp.warnings(/invalid group name/)).toHaveLength(1);

    await op.putGroups("pc-1", { groups: ["wave.1"] });
    await waitForConfig(
      cp,
      (c) => c.targetVersion === null && c.heartbeatInterval === "15s",
      "moved to wave.1",
    );
    expect(cp.membership$.value).toEqual(["wave.1"]);

    await op.putGroups("pc-1", {}); // malformed: no membership, with a warning
    await waitForConfig(cp, (c) => c.heartbeatInterval === "30s", "left every group");
    expect(cp.membership$.value).toEqual([]);
    expect(cp.warnings(/malformed value; no group membership/)).toHaveLength(1);

    await op.putGroups("pc-1", { groups: ["canary"] });
    await waitForConfig(cp, (c) => c.targetVersion === "5.0.0", "joined again");
    await (await op.groups()).delete("pc-1");
    await waitForConfig(cp, (c) => c.targetVersion === null, "entry deleted");
    expect(cp.memberships).toEqual([[], ["canary"], ["wave.1"], [], ["canary"], []]);
  });

  it("misses no write made between the full sync and the start of the watch", async () => {
    await op.putConfig("global", { heartbeat_interval: "1s" });
    const bucket = await openExistingBucket(op.nc, "agent_config");
    const snapshot = await readConfigSnapshot(bucket, null);
    expect(snapshot.mirror.global).toEqual({ heartbeatInterval: "1s" });

    await op.putConfig("global", { heartbeat_interval: "2s" }); // after the snapshot
    const seen: KvEntry[] = [];
    const watch = watchKv(bucket.kv, { key: ">", fromRevision: snapshot.fromRevision }, (e) =>
      seen.push(e),
    );
    try {
      await waitFor(() => seen.length > 0, { what: "the write made before the watch started" });
      expect(seen.map((e) => [e.key, e.string()])).toEqual([
        ["global", JSON.stringify({ heartbeat_interval: "2s" })],
      ]);
    } finally {
      watch.stop();
    }
    expect(await watch.ended).toEqual({ reason: "stopped", opened: true });
  });
});
