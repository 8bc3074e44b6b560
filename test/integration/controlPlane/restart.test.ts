import { jetstreamManager } from "@nats-io/jetstream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
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

const syncCount = (cp: ControlPlane) =>
  cp.logs.filter((l) => /agent_config synced/.test(l.msg)).length;

/** Waits until the agent has synced again after a restart and is back to watching. */
async function waitForResync(cp: ControlPlane, before: number): Promise<void> {
  await waitFor(() => syncCount(cp) > before, { timeoutMs: 15_000, what: "a full re-sync" });
}

describe("config supervisor and groups manager across broker restarts", () => {
  it("keeps the values over a restart with the same store and resumes the watches", async () => {
    await op.putGroups("pc-1", { groups: ["g"] });
    await op.putConfig("groups.g", { heartbeat_interval: "12s" });
    cp = await startControlPlane(server);
    await waitForConfig(cp, (c) => c.heartbeatInterval === "12s", "before restart");
    const seen = cp.configs.length;
    const syncs = syncCount(cp);

    await server.restart();
    await op.ready();
    await waitForResync(cp, syncs);
    // Nothing flapped: the same values came back from the store.
    expect(cp.configs.length).toBe(seen);
    expect(cp.membership$.value).toEqual(["g"]);

    await op.putConfig("groups.g", { heartbeat_interval: "13s" });
    await waitForConfig(cp, (c) => c.heartbeatInterval === "13s", "a put after the restart");
    await op.putGroups("pc-1", { groups: ["g", "h"] });
    await waitFor(() => cp?.membership$.value.join() === "g,h", {
      what: "a membership change after the restart",
    });
  });

  it("re-syncs after a restart with an empty store once the buckets exist again", async () => {
    await op.putGroups("pc-1", { groups: ["g"] });
    await op.putConfig("global", { host_perf_interval: "22s" });
    cp = await startControlPlane(server);
    await waitForConfig(cp, (c) => c.hostPerfInterval === "22s", "before restart");

    await server.restart({ emptyStore: true });
    await op.ready();
    await waitFor(() => cp!.warnings(/kv agent_config: not available/).length > 0, {
      what: "the agent to wait for the missing bucket",
    });
    // The agent only waits: it never creates a bucket the backend owns.
    const jsm = await jetstreamManager(op.nc);
    await expect(jsm.streams.info("KV_agent_config")).rejects.toThrow(/not found/);
    await expect(jsm.streams.info("KV_agent_groups")).rejects.toThrow(/not found/);
    // No bucket, nothing read: the last complete mirror stays in force.
    expect(cp.config$.value.hostPerfInterval).toBe("22s");
    expect(cp.membership$.value).toEqual(["g"]);

    await bootstrapKanade(op.nc);
    // The re-created buckets are empty: defaults and no groups.
    await waitForConfig(cp, (c) => JSON.stringify(c) === JSON.stringify(DEFAULTS), "defaults");
    await waitFor(() => cp?.membership$.value.length === 0, { what: "membership emptied" });

    await op.putConfig("global", { host_perf_interval: "23s" });
    await waitForConfig(cp, (c) => c.hostPerfInterval === "23s", "a put into the new bucket");
    await op.putGroups("pc-1", { groups: ["k"] });
    await waitFor(() => cp?.membership$.value.join() === "k", { what: "new membership" });
  });
});
