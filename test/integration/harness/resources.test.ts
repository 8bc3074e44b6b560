import { DiscardPolicy, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { type NatsConnection, nanos } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { bootstrapKanade, deleteKanadeResources } from "../../../src/services/nats/resources.js";
import { NatsServer } from "../../helpers/natsServer.js";

const DAY_NS = nanos(86_400_000);

// wire.md §6 and §8, written out here rather than imported, so that a wrong table in the code
// cannot agree with itself.
const STREAMS: Record<string, { subjects: string[]; maxAge: number; perSubject: number }> = {
  EXEC: { subjects: ["commands.>"], maxAge: 7 * DAY_NS, perSubject: 1 },
  RESULTS: { subjects: ["results.>"], maxAge: 30 * DAY_NS, perSubject: -1 },
  EVENTS: { subjects: ["events.>"], maxAge: 7 * DAY_NS, perSubject: -1 },
  INVENTORY: { subjects: ["inventory.>"], maxAge: 90 * DAY_NS, perSubject: -1 },
  AUDIT: { subjects: ["audit.>"], maxAge: 0, perSubject: -1 },
};
const KV_HISTORY: Record<string, number> = {
  script_current: 5,
  script_status: 5,
  agents_state: 1,
  agent_config: 5,
  agent_groups: 5,
  schedules: 5,
  jobs: 5,
  jobs_yaml: 5,
  schedules_yaml: 5,
};
const ALL_0_40 = [
  ...Object.keys(STREAMS),
  ...Object.keys(KV_HISTORY).map((b) => `KV_${b}`),
  "OBJ_agent_releases",
].sort();

let server: NatsServer;
let nc: NatsConnection;

beforeAll(async () => {
  server = await NatsServer.start();
  nc = await connect({ servers: server.url });
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

beforeEach(async () => {
  await deleteKanadeResources(nc);
});

async function streamNames(): Promise<string[]> {
  const jsm = await jetstreamManager(nc);
  const names: string[] = [];
  for await (const n of jsm.streams.names()) names.push(n);
  return names.sort();
}

describe("bootstrapKanade", () => {
  it("creates exactly the test set: the 0.40 set plus result_output", async () => {
    const report = await bootstrapKanade(nc);
    expect(await streamNames()).toEqual([...ALL_0_40, "OBJ_result_output"].sort());
    expect(report.existing).toEqual([]);
    expect(report.created).toHaveLength(ALL_0_40.length + 1);
  });

  it("gives the streams the configs of wire §6", async () => {
    await bootstrapKanade(nc);
    const jsm = await jetstreamManager(nc);
    for (const [name, want] of Object.entries(STREAMS)) {
      const { config } = await jsm.streams.info(name);
      expect(config.subjects, name).toEqual(want.subjects);
      expect(config.max_age, name).toBe(want.maxAge);
      expect(config.max_msgs_per_subject, name).toBe(want.perSubject);
      expect(config.discard, name).toBe(DiscardPolicy.Old);
      expect(config.retention, name).toBe(RetentionPolicy.Limits);
      expect(config.storage, name).toBe(StorageType.File);
      expect(config.num_replicas, name).toBe(1);
      expect(config.max_msgs, name).toBe(-1);
      expect(config.max_bytes, name).toBe(-1);
      expect(config.duplicate_window, name).toBe(nanos(120_000));
    }
  });

  it("keeps only the newest command per subject in EXEC", async () => {
    await bootstrapKanade(nc);
    nc.publish("commands.pc.a", "1");
    nc.publish("commands.pc.a", "2");
    nc.publish("commands.all", "3");
    await nc.flush();
    const info = await (await jetstreamManager(nc)).streams.info("EXEC");
    expect(info.state.messages).toBe(2);
  });

  it("gives the KV buckets their history and the object stores their ages", async () => {
    await bootstrapKanade(nc);
    const kvm = new Kvm(nc);
    for (const [bucket, history] of Object.entries(KV_HISTORY)) {
      const status = await (await kvm.open(bucket)).status();
      expect(status.history, bucket).toBe(history);
    }
    const jsm = await jetstreamManager(nc);
    const releases = await jsm.streams.info("OBJ_agent_releases");
    expect(releases.config.max_age).toBe(0);
    expect(releases.config.subjects).toEqual(["$O.agent_releases.C.>", "$O.agent_releases.M.>"]);
    const output = await jsm.streams.info("OBJ_result_output");
    expect(output.config.max_age).toBe(30 * DAY_NS);
  });

  it("leaves result_output out of the 0.40 set", async () => {
    await bootstrapKanade(nc, { resultOutput: false });
    expect(await streamNames()).toEqual(ALL_0_40);
  });

  it("is idempotent and leaves existing resources as they are", async () => {
    const jsm = await jetstreamManager(nc);
    // A backend-made EXEC with another age, and a command already in it.
    await jsm.streams.add({ name: "EXEC", subjects: ["commands.>"], max_age: nanos(3_600_000) });
    nc.publish("commands.all", "kept");
    await nc.flush();

    const first = await bootstrapKanade(nc);
    expect(first.existing).toEqual(["stream EXEC"]);
    const second = await bootstrapKanade(nc);
    expect(second.created).toEqual([]);
    expect(second.existing).toHaveLength(ALL_0_40.length + 1);

    const exec = await jsm.streams.info("EXEC");
    expect(exec.config.max_age).toBe(nanos(3_600_000));
    expect(exec.state.messages).toBe(1);
    expect(await streamNames()).toEqual([...ALL_0_40, "OBJ_result_output"].sort());
  });

  it("deleteKanadeResources removes the whole set", async () => {
    await bootstrapKanade(nc);
    await deleteKanadeResources(nc);
    expect(await streamNames()).toEqual([]);
  });
});
