import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";

export interface FaultyProxyOptions {
  /** Upstream, e.g. a NatsServer's port on 127.0.0.1. */
  upstreamHost?: string;
  upstreamPort: number;
  /** Local port to listen on; random by default. */
  port?: number;
}

interface Pair {
  client: Socket;
  upstream: Socket;
}

/**
 * A TCP proxy on 127.0.0.1 in front of one upstream, with switches for the network faults a test
 * wants to inject: cut connections, a black hole, latency, refused connections.
 */
export class FaultyProxy {
  readonly upstreamHost: string;
  readonly upstreamPort: number;
  readonly #server: Server;
  readonly #pairs = new Set<Pair>();
  #port = 0;
  #blackhole = false;
  #refuse = false;
  #latencyMs = 0;
  #accepted = 0;

  private constructor(opts: FaultyProxyOptions) {
    this.upstreamHost = opts.upstreamHost ?? "127.0.0.1";
    this.upstreamPort = opts.upstreamPort;
    this.#server = createServer((client) => this.#onClient(client));
  }

  static async start(opts: FaultyProxyOptions): Promise<FaultyProxy> {
    const proxy = new FaultyProxy(opts);
    await new Promise<void>((resolve, reject) => {
      proxy.#server.once("error", reject);
      proxy.#server.listen(opts.port ?? 0, "127.0.0.1", () => {
        proxy.#server.off("error", reject);
        resolve();
      });
    });
    const addr = proxy.#server.address();
    if (addr === null || typeof addr === "string") throw new Error("proxy has no TCP address");
    proxy.#port = addr.port;
    return proxy;
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.#port}`;
  }

  /** Connections currently proxied. */
  get connections(): number {
    return this.#pairs.size;
  }

  /** Client connections accepted since start (refused ones included). */
  get accepted(): number {
    return this.#accepted;
  }

  /** Destroys every current connection (both sides); new connections are still accepted. */
  cut(): void {
    for (const pair of this.#pairs) destroyPair(pair);
    this.#pairs.clear();
  }

  /** While on, sockets stay open but every byte in either direction is dropped. */
  blackhole(on: boolean): void {
    this.#blackhole = on;
  }

  /** Delays every chunk by `ms` in each direction, keeping order. */
  latency(ms: number): void {
    this.#latencyMs = Math.max(0, ms);
  }

  /** While on, new connections are closed as soon as they are accepted. */
  refuse(on: boolean): void {
    this.#refuse = on;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #onClient(client: Socket): void {
    this.#accepted++;
    if (this.#refuse) {
      client.destroy();
      return;
    }
    client.setNoDelay(true);
    const upstream = tcpConnect({ host: this.upstreamHost, port: this.upstreamPort });
    upstream.setNoDelay(true);
    const pair: Pair = { client, upstream };
    this.#pairs.add(pair);
    const end = () => {
      if (this.#pairs.delete(pair)) destroyPair(pair);
    };
    // Either side closing or failing takes the other down, as a real broken link would.
    for (const s of [client, upstream]) {
      s.on("error", end);
      s.on("close", end);
    }
    this.#forward(client, upstream);
    this.#forward(upstream, client);
  }

  #forward(from: Socket, to: Socket): void {
    // Chunks leave no earlier than `latency` after arrival and never overtake one another: one
    // queue and one timer per direction.
    const queue: { due: number; chunk: Buffer }[] = [];
    let timer: NodeJS.Timeout | undefined;
    const drain = () => {
      timer = undefined;
      while (queue.length > 0 && (queue[0]?.due ?? 0) <= Date.now()) {
        const next = queue.shift();
        if (next && !to.destroyed && !this.#blackhole) to.write(next.chunk);
      }
      const head = queue[0];
      if (head) timer = setTimeout(drain, Math.max(0, head.due - Date.now()));
    };
    from.on("data", (chunk: Buffer) => {
      if (this.#blackhole) return;
      if (this.#latencyMs === 0 && queue.length === 0) {
        if (!to.destroyed) to.write(chunk);
        return;
      }
      queue.push({ due: Date.now() + this.#latencyMs, chunk });
      if (timer === undefined) timer = setTimeout(drain, this.#latencyMs);
    });
    from.on("close", () => {
      if (timer !== undefined) clearTimeout(timer);
      queue.length = 0;
    });
  }
}

function destroyPair(pair: Pair): void {
  pair.client.destroy();
  pair.upstream.destroy();
}
