import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";

/**
 * A plain TCP relay on 127.0.0.1 that remembers when each client connection was accepted: one
 * per simulated agent, so connection attempts are counted per agent, refused ones included
 * (while the broker is down the upstream connect fails and the client is closed at once).
 */
export class CountingProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #acceptedAt: number[] = [];
  #port = 0;

  private constructor(upstreamPort: number, now: () => number, maxRecords: number) {
    this.#server = createServer((client) => {
      if (this.#acceptedAt.length < maxRecords) this.#acceptedAt.push(now());
      const upstream = tcpConnect({ host: "127.0.0.1", port: upstreamPort });
      client.setNoDelay(true);
      upstream.setNoDelay(true);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on("close", () => this.#sockets.delete(s));
        s.on("error", () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }

  static async start(
    upstreamPort: number,
    now: () => number = Date.now,
    maxRecords = 100_000,
  ): Promise<CountingProxy> {
    const p = new CountingProxy(upstreamPort, now, maxRecords);
    await new Promise<void>((resolve, reject) => {
      p.#server.once("error", reject);
      p.#server.listen(0, "127.0.0.1", () => resolve());
    });
    const addr = p.#server.address();
    if (addr === null || typeof addr === "string") throw new Error("proxy has no TCP address");
    p.#port = addr.port;
    return p;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.#port}`;
  }

  /** Times (ms) of the accepted client connections, oldest first. */
  get acceptedAt(): readonly number[] {
    return this.#acceptedAt;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
