import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureReplayConsumer, readUnacked } from "../../../src/services/nats/replayConsumer.js";
import { bootstrapKanade } from "../../../src/services/nats/resources.js";
import {
  commandsPc,
  replayConsumerName,
  STREAM_EXEC,
} from "../../../src/services/nats/subjects.js";
import { connectClient } from "../../helpers/agentScenario.js";
import { NatsServer } from "../../helpers/natsServer.js";

let server: NatsServer;
let nc: NatsConnection;
beforeAll(async () => {
  server = await NatsServer.start();
  nc = await connectClient(server.url);
  await bootstrapKanade(nc, { resultOutput: true });
});
afterAll(async () => {
  await nc.close();
  await server.stop();
});

/** Takes `n` messages from the durable of `pc` and never acks them, as a killed process would. */
async function takeUnacked(pc: string, n: number): Promise<string[]> {
  const consumer = await jetstream(nc).consumers.get(STREAM_EXEC, replayConsumerName(pc));
  const batch = await consumer.fetch({ max_messages: n, expires: 5_000 });
  const subjects: string[] = [];
  for await (const m of batch) {
    subjects.push(m.subject);
    if (subjects.length === n) break;
  }
  return subjects;
}

describe("readUnacked (messages a dead pull took, read back by stream sequence)", () => {
  it("nothing handed out: reads nothing", async () => {
    await ensureReplayConsumer(nc, "pc-idle", () => true);
    const seen: string[] = [];
    expect(await readUnacked(nc, "pc-idle", (m) => seen.push(m.subject))).toEqual({
      read: 0,
      gone: 0,
      left: 0,
    });
    expect(seen).toEqual([]);
  });

  it("reads the unacked range in order, never a replaced command, and leaves what is beyond the cap", async () => {
    await ensureReplayConsumer(nc, "pc-r", () => true);
    for (const pc of ["r-a", "r-b", "r-c"]) nc.publish(commandsPc(pc), `{"for":"${pc}"}`);
    await nc.flush();
    expect(await takeUnacked("pc-r", 3)).toEqual(["r-a", "r-b", "r-c"].map(commandsPc));
    // A newer command on the first subject: EXEC keeps one per subject, the handed-out one is gone.
    nc.publish(commandsPc("r-a"), `{"for":"r-a again"}`);
    await nc.flush();

    // (The server drops a replaced message from the pending acks itself; one still in the range
    // but no longer in the stream would count as gone.)
    const seen: { subject: string; data: string }[] = [];
    const r = await readUnacked(
      nc,
      "pc-r",
      (m) => seen.push({ subject: m.subject, data: new TextDecoder().decode(m.data) }),
      1,
    );
    expect(r.read).toBe(1);
    expect(r.left).toBe(1);
    expect(seen).toEqual([{ subject: commandsPc("r-b"), data: '{"for":"r-b"}' }]);

    const all: string[] = [];
    const whole = await readUnacked(nc, "pc-r", (m) => all.push(m.subject));
    expect(whole.left).toBe(0);
    expect(all).toEqual([commandsPc("r-b"), commandsPc("r-c")]);
  });
});
