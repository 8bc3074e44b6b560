import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NatsServer } from "../../helpers/natsServer.js";
import { collect, nextMessage, waitFor } from "../../helpers/waitFor.js";

let server: NatsServer;
let nc: NatsConnection;

beforeAll(async () => {
  server = await NatsServer.start({ jetstream: false });
  nc = await connect({ servers: server.url });
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

describe("waitFor helpers", () => {
  it("waitFor resolves when the condition holds and names `what` on timeout", async () => {
    let n = 0;
    await waitFor(() => ++n >= 3, { intervalMs: 5 });
    expect(n).toBe(3);
    await expect(waitFor(() => false, { timeoutMs: 100, what: "the moon" })).rejects.toThrow(
      /timed out after 100 ms waiting for the moon/,
    );
  });

  it("nextMessage times out without losing the message that arrives later", async () => {
    const sub = nc.subscribe("nm.test");
    await nc.flush();
    await expect(nextMessage(sub, 100)).rejects.toThrow(/a message on nm\.test/);
    nc.publish("nm.test", "first");
    nc.publish("nm.test", "second");
    expect((await nextMessage(sub, 2_000)).string()).toBe("first");
    expect((await nextMessage(sub, 2_000)).string()).toBe("second");
    sub.unsubscribe();
  });

  it("collect decodes JSON (text otherwise) and waits for counts and matches", async () => {
    const c = collect<{ n: number } | string>(nc, "col.>");
    await nc.flush();
    nc.publish("col.a", JSON.stringify({ n: 1 }));
    nc.publish("col.b", "not json");
    const two = await c.waitForCount(2, { timeoutMs: 2_000 });
    expect(two.map((m) => [m.subject, m.data])).toEqual([
      ["col.a", { n: 1 }],
      ["col.b", "not json"],
    ]);

    const later = c.waitForMatch((m) => typeof m.data === "object" && m.data.n === 2);
    nc.publish("col.c", JSON.stringify({ n: 2 }));
    expect((await later).subject).toBe("col.c");

    await expect(c.waitForCount(10, { timeoutMs: 100, what: "ten" })).rejects.toThrow(
      /ten on col\.> \(have 3/,
    );
    c.stop();
  });
});
