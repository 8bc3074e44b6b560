import type { NatsConnection, Status } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { FaultyProxy } from "../../helpers/faultyProxy.js";
import { NatsServer } from "../../helpers/natsServer.js";
import { waitFor, withTimeout } from "../../helpers/waitFor.js";

let server: NatsServer;
let responder: NatsConnection;
let proxy: FaultyProxy | undefined;
const clients: NatsConnection[] = [];

beforeAll(async () => {
  server = await NatsServer.start({ jetstream: false });
  // The responder talks to the server directly, so only the requester's path is faulty.
  responder = await connect({ servers: server.url });
  responder.subscribe("echo", {
    callback: (_err, msg) => {
      msg.respond(msg.data);
    },
  });
  await responder.flush();
});

afterAll(async () => {
  await responder?.close();
  await server?.stop();
});

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close().catch(() => {});
  await proxy?.close();
  proxy = undefined;
});

async function client(p: FaultyProxy): Promise<NatsConnection> {
  const c = await connect({
    servers: p.url,
    reconnectTimeWait: 100,
    maxReconnectAttempts: -1,
    timeout: 2_000,
  });
  clients.push(c);
  return c;
}

async function echo(c: NatsConnection, timeout = 2_000): Promise<string> {
  const reply = await c.request("echo", "ping", { timeout });
  return reply.string();
}

describe("FaultyProxy", () => {
  it("passes traffic through to the upstream", async () => {
    proxy = await FaultyProxy.start({ upstreamPort: server.port });
    expect(proxy.url).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
    const c = await client(proxy);
    expect(await echo(c)).toBe("ping");
    expect(proxy.connections).toBe(1);
  });

  it("cut() makes a client see a disconnect and then a reconnect", async () => {
    proxy = await FaultyProxy.start({ upstreamPort: server.port });
    const c = await client(proxy);
    const seen: Status["type"][] = [];
    void (async () => {
      for await (const s of c.status()) seen.push(s.type);
    })();

    proxy.cut();
    await waitFor(() => seen.includes("reconnect"), { timeoutMs: 5_000, what: "reconnect" });
    const relevant = seen.filter((t) => t === "disconnect" || t === "reconnect");
    expect(relevant.slice(0, 2)).toEqual(["disconnect", "reconnect"]);
    expect(await echo(c)).toBe("ping");
  });

  it("blackhole(true) makes requests time out; blackhole(false) recovers", async () => {
    proxy = await FaultyProxy.start({ upstreamPort: server.port });
    const c = await client(proxy);
    expect(await echo(c)).toBe("ping");

    proxy.blackhole(true);
    await expect(echo(c, 500)).rejects.toThrow(/timeout/i);
    // The socket is still open: a black hole is not a disconnect.
    expect(proxy.connections).toBe(1);

    proxy.blackhole(false);
    expect(await echo(c)).toBe("ping");
  });

  it("refuse(true) closes new connections at once; existing ones keep working", async () => {
    proxy = await FaultyProxy.start({ upstreamPort: server.port });
    const existing = await client(proxy);

    proxy.refuse(true);
    await expect(
      connect({ servers: proxy.url, reconnect: false, timeout: 2_000 }),
    ).rejects.toThrow();
    expect(await echo(existing)).toBe("ping");

    proxy.refuse(false);
    const fresh = await client(proxy);
    expect(await echo(fresh)).toBe("ping");
  });

  it("latency(ms) delays each direction", async () => {
    proxy = await FaultyProxy.start({ upstreamPort: server.port });
    const c = await client(proxy);
    proxy.latency(250);
    const t0 = performance.now();
    expect(await echo(c)).toBe("ping");
    // Request out and reply back each wait 250 ms.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(480);

    proxy.latency(0);
    const t1 = performance.now();
    await withTimeout(echo(c), 2_000, "echo without latency");
    expect(performance.now() - t1).toBeLessThan(250);
  });
});
