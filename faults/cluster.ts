// A JetStream cluster of nats-server 2.9 nodes on loopback, for fault scenarios: routes between
// every node, each node its own store, HTTP monitoring for CONNZ, a short lame-duck duration.

import { createServer } from "node:net";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { type NatsConnection, nanos } from "@nats-io/nats-core";
import { Objm } from "@nats-io/obj";
import {
  bootstrapKanade,
  KANADE_KV_BUCKETS,
  KANADE_OBJECT_STORES,
  KANADE_STREAMS,
  kvStreamName,
  objStreamName,
} from "../src/services/nats/resources.js";
import { NatsServer } from "../test/helpers/natsServer.js";
import { waitFor } from "../test/helpers/waitFor.js";

export interface ClusterOptions {
  /** Nodes (default 3). */
  size?: number;
  /** `lame_duck_duration` (default and 2.9's minimum 30 s; the server's own default is 2 min). */
  lameDuckMs?: number;
}

interface ConnzResponse {
  connections?: { name?: string; cid: number }[];
}

/** A loopback port that nothing listens on right now (racy by nature; retried by the caller). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * nats-server text config of one cluster node. `no_advertise` keeps clients on the URLs they were
 * given: a client that learned the nodes' own addresses would bypass a scenario's proxies.
 */
export function nodeConfig(opts: {
  name: string;
  clusterPort: number;
  routePorts: readonly number[];
  httpPort: number;
  lameDuckMs: number;
}): string {
  const routes = opts.routePorts.map((p) => `    "nats-route://127.0.0.1:${p}"`).join("\n");
  return [
    `server_name: "${opts.name}"`,
    `http: "127.0.0.1:${opts.httpPort}"`,
    `lame_duck_duration: "${Math.max(30, Math.round(opts.lameDuckMs / 1000))}s"`,
    `lame_duck_grace_period: "1s"`,
    "cluster {",
    `  name: "kanade-faults"`,
    `  listen: "127.0.0.1:${opts.clusterPort}"`,
    "  no_advertise: true",
    "  routes: [",
    routes,
    "  ]",
    "}",
    "",
  ].join("\n");
}

export class NatsCluster {
  readonly nodes: readonly NatsServer[];
  readonly httpPorts: readonly number[];

  private constructor(nodes: NatsServer[], httpPorts: number[]) {
    this.nodes = nodes;
    this.httpPorts = httpPorts;
  }

  static async start(opts: ClusterOptions = {}): Promise<NatsCluster> {
    const size = opts.size ?? 3;
    const clusterPorts: number[] = [];
    const httpPorts: number[] = [];
    for (let i = 0; i < size; i++) {
      clusterPorts.push(await freePort());
      httpPorts.push(await freePort());
    }
    const nodes = await Promise.all(
      clusterPorts.map((clusterPort, i) =>
        NatsServer.start({
          config: nodeConfig({
            name: `n${i + 1}`,
            clusterPort,
            routePorts: clusterPorts.filter((_, j) => j !== i),
            httpPort: httpPorts[i]!,
            lameDuckMs: opts.lameDuckMs ?? 30_000,
          }),
          readyTimeoutMs: 15_000,
        }),
      ),
    );
    return new NatsCluster(nodes, httpPorts);
  }

  get urls(): string[] {
    return this.nodes.map((n) => n.url);
  }

  /** Index of the node holding a client connection named `name`, or -1. Down nodes are skipped. */
  async nodeOfConnection(name: string): Promise<number> {
    for (let i = 0; i < this.nodes.length; i++) {
      if (!this.nodes[i]!.running) continue;
      const connz = await this.connz(i).catch(() => null);
      if (connz?.connections?.some((c) => c.name === name)) return i;
    }
    return -1;
  }

  /** Waits until a connection named `name` is held by a node other than `not`; returns it. */
  async waitConnectionMoved(name: string, not: number, timeoutMs = 30_000): Promise<number> {
    let at = -1;
    await waitFor(
      async () => {
        at = await this.nodeOfConnection(name);
        return at >= 0 && at !== not;
      },
      { timeoutMs, intervalMs: 100, what: `connection ${name} to move off node ${not + 1}` },
    );
    return at;
  }

  async connz(i: number): Promise<ConnzResponse> {
    const res = await fetch(`http://127.0.0.1:${this.httpPorts[i]}/connz?limit=4096`, {
      signal: AbortSignal.timeout(2_000),
    });
    if (!res.ok) throw new Error(`connz of node ${i + 1}: HTTP ${res.status}`);
    return (await res.json()) as ConnzResponse;
  }

  /** Waits until JetStream answers through `nc` (a meta leader was elected). */
  async waitJetStream(nc: NatsConnection, timeoutMs = 30_000): Promise<void> {
    await waitFor(
      async () => {
        const jsm = await jetstreamManager(nc, { timeout: 2_000 });
        await jsm.getAccountInfo();
        return true;
      },
      { timeoutMs, intervalMs: 200, what: "the JetStream cluster to elect a meta leader" },
    );
  }

  /**
   * Waits until every stream of the set has a leader and all its replicas are current: a node
   * that just came back has caught up, so losing another one keeps a quorum with the data.
   */
  async waitReplicasCurrent(nc: NatsConnection, timeoutMs = 60_000): Promise<void> {
    const names = KANADE_STREAMS.map((s) => s.name);
    await waitFor(
      async () => {
        const jsm = await jetstreamManager(nc, { timeout: 2_000 });
        for (const name of names) {
          const c = (await jsm.streams.info(name)).cluster;
          if (!c?.leader) return false;
          if ((c.replicas ?? []).some((r) => !r.current || r.offline)) return false;
          if ((c.replicas ?? []).length < this.nodes.length - 1) return false;
        }
        return true;
      },
      { timeoutMs, intervalMs: 250, what: "every stream replica to be current" },
    );
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
  }
}

/**
 * The kanade resource set with `replicas` copies of every stream, bucket and store. The backend's
 * own bootstrap creates R1; a cluster scenario needs R3 to survive a node. Missing pieces are then
 * filled by `bootstrapKanade`, which leaves what exists alone. Retries while the cluster settles.
 */
export async function bootstrapReplicated(
  nc: NatsConnection,
  replicas: number,
  timeoutMs = 60_000,
): Promise<void> {
  await waitFor(
    async () => {
      await createReplicated(nc, replicas);
      await bootstrapKanade(nc);
      return true;
    },
    { timeoutMs, intervalMs: 500, what: `the kanade resource set with ${replicas} replicas` },
  );
}

async function createReplicated(nc: NatsConnection, replicas: number): Promise<void> {
  const jsm = await jetstreamManager(nc, { timeout: 10_000 });
  const exists = async (name: string) =>
    jsm.streams.info(name).then(
      () => true,
      (err: unknown) => {
        if (/not found/i.test(String(err))) return false;
        throw err;
      },
    );
  for (const s of KANADE_STREAMS) {
    if (await exists(s.name)) continue;
    await jsm.streams.add({
      ...s.config,
      name: s.name,
      subjects: s.subjects,
      num_replicas: replicas,
    });
  }
  const kvm = new Kvm(nc);
  for (const b of KANADE_KV_BUCKETS) {
    if (await exists(kvStreamName(b.name))) continue;
    await kvm.create(b.name, { history: b.history, replicas });
  }
  const objm = new Objm(nc);
  for (const o of KANADE_OBJECT_STORES) {
    if (await exists(objStreamName(o.name))) continue;
    await objm.create(o.name, o.maxAgeMs > 0 ? { ttl: nanos(o.maxAgeMs), replicas } : { replicas });
  }
}
