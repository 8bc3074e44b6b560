import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openExistingBucket } from "../../src/services/kv/bucket.js";
import { NatsServer } from "../helpers/natsServer.js";

let server: NatsServer;
let nc: NatsConnection;
let spy: NatsConnection;
beforeAll(async () => {
  server = await NatsServer.start();
  nc = await connect({ servers: server.url });
  spy = await connect({ servers: server.url });
});
afterAll(async () => {
  await spy?.close();
  await nc?.close();
  await server?.stop();
});

/** The JetStream API subjects the reads of `read` were sent on (seen by a second client). */
async function apiSubjectsOf(read: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const sub = spy.subscribe("$JS.API.>", {
    callback: (_e, m) => {
      seen.push(m.subject);
    },
  });
  await spy.flush();
  await read();
  await nc.flush();
  await spy.flush();
  sub.unsubscribe();
  return seen;
}

describe("reading a bucket the backend owns (openExistingBucket)", () => {
  it("reads a bucket that allows direct gets with one direct request per key", async () => {
    const made = await new Kvm(nc).create("direct_yes", { history: 5 });
    await made.put("m", "1");
    const { kv } = await openExistingBucket(nc, "direct_yes");
    const subjects = await apiSubjectsOf(async () => {
      expect((await kv.get("m"))?.string()).toBe("1");
      expect(await kv.get("absent")).toBeNull();
    });
    expect(subjects).toEqual([
      "$JS.API.DIRECT.GET.KV_direct_yes.$KV.direct_yes.m",
      "$JS.API.DIRECT.GET.KV_direct_yes.$KV.direct_yes.absent",
    ]);
  });

  it("reads a bucket without direct gets through the stream API", async () => {
    const made = await new Kvm(nc).create("direct_no", { history: 5, allow_direct: false });
    await made.put("m", "2");
    const { kv } = await openExistingBucket(nc, "direct_no");
    const subjects = await apiSubjectsOf(async () => {
      expect((await kv.get("m"))?.string()).toBe("2");
    });
    expect(subjects).toEqual(["$JS.API.STREAM.MSG.GET.KV_direct_no"]);
  });
});
