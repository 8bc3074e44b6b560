import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection, Status } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import { NatsServer } from "../../helpers/natsServer.js";
import { withTimeout } from "../../helpers/waitFor.js";

let server: NatsServer | undefined;
let nc: NatsConnection | undefined;

afterEach(async () => {
  await nc?.close().catch(() => {});
  nc = undefined;
  await server?.stop();
  server = undefined;
});

async function streamWithOneMessage(s: NatsServer): Promise<void> {
  const c = await connect({ servers: s.url });
  const jsm = await jetstreamManager(c);
  await jsm.streams.add({ name: "KEEP", subjects: ["keep.>"] });
  const ack = await jetstream(c).publish("keep.one", "hello");
  expect(ack.seq).toBe(1);
  await c.close();
}

async function messagesIn(s: NatsServer, stream: string): Promise<number | "missing"> {
  const c = await connect({ servers: s.url });
  try {
    const jsm = await jetstreamManager(c);
    const info = await jsm.streams.info(stream);
    return info.state.messages;
  } catch (err) {
    if (/stream not found/i.test(String(err))) return "missing";
    throw err;
  } finally {
    await c.close();
  }
}

describe("NatsServer", () => {
  it("starts on a random loopback port with JetStream enabled", async () => {
    server = await NatsServer.start();
    expect(server.url).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
    expect(server.port).toBeGreaterThan(0);
    expect(server.pid).toBeGreaterThan(0);
    expect(server.logContains(/Starting JetStream/)).toBe(true);

    nc = await connect({ servers: server.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "T", subjects: ["t.>"] });
    const ack = await jetstream(nc).publish("t.x", "1");
    expect(ack.stream).toBe("T");
  });

  it("restart() keeps the port, the streams and their messages", async () => {
    server = await NatsServer.start();
    const port = server.port;
    const pid = server.pid;
    await streamWithOneMessage(server);

    await server.restart();
    expect(server.port).toBe(port);
    expect(server.pid).not.toBe(pid);
    expect(await messagesIn(server, "KEEP")).toBe(1);
  });

  it("restart({ emptyStore: true }) comes back without the streams", async () => {
    server = await NatsServer.start();
    await streamWithOneMessage(server);

    await server.restart({ emptyStore: true });
    expect(await messagesIn(server, "KEEP")).toBe("missing");
  });

  it("freeze() stalls clients until thaw()", async () => {
    server = await NatsServer.start();
    nc = await connect({ servers: server.url });
    await nc.flush();

    await server.freeze();
    const pending = nc.flush();
    await expect(withTimeout(pending, 500, "flush on a frozen server")).rejects.toThrow(
      /timed out/,
    );

    server.thaw();
    await withTimeout(pending, 5_000, "flush after thaw");
    await withTimeout(nc.flush(), 5_000, "a new flush after thaw");
  });

  it("stop() after freeze() still kills the server", async () => {
    server = await NatsServer.start();
    await server.freeze();
    await withTimeout(server.stop(), 5_000, "stop of a frozen server");
    expect(server.running).toBe(false);
  });

  it("lameDuck() tells connected clients and refuses new ones", async () => {
    server = await NatsServer.start();
    nc = await connect({ servers: server.url, reconnect: false });
    const statuses = watchStatus(nc);

    await server.lameDuck();
    await withTimeout(statuses.seen("ldm"), 5_000, "ldm status");
    // 2.9 enforces lame_duck_duration >= 30 s before the exit; the refusal is immediate.
    await expect(
      connect({ servers: server.url, reconnect: false, timeout: 1_000 }),
    ).rejects.toThrow();
  });

  it("shutdown() stops the server gracefully", async () => {
    server = await NatsServer.start();
    await server.shutdown();
    expect(server.running).toBe(false);
    expect(server.logContains(/Server Exiting/)).toBe(true);
  });
});

function watchStatus(c: NatsConnection): { seen(type: Status["type"]): Promise<void> } {
  const seen = new Set<string>();
  const wakers = new Set<() => void>();
  void (async () => {
    for await (const s of c.status()) {
      seen.add(s.type);
      for (const w of wakers) w();
    }
  })();
  return {
    seen: (type) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (seen.has(type)) {
            wakers.delete(check);
            resolve();
          }
        };
        wakers.add(check);
        check();
      }),
  };
}
