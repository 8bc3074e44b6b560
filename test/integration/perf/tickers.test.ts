import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createActor } from "xstate";
import {
  heartbeatSubject,
  hostPerfSubject,
  processPerfSubject,
} from "../../../src/services/nats/subjects.js";
import { listWholeDisks } from "../../../src/services/perf/procfs.js";
import {
  decodeHeartbeat,
  decodeHostPerf,
  decodeProcessPerf,
} from "../../../src/services/wire/index.js";
import { heartbeatTicker, hostPerfTicker, processPerfTicker } from "../../../src/wiring/tickers.js";
import { FaultyProxy } from "../../helpers/faultyProxy.js";
import { NatsServer } from "../../helpers/natsServer.js";
import { killAtExit } from "../../helpers/tmp.js";
import { collect, sleep, waitFor, withTimeout } from "../../helpers/waitFor.js";
import { agentLink, type Cleanup, observer, quickPcId, tickerContext } from "./env.js";

const onLinux = process.platform === "linux";
const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startServer(): Promise<NatsServer> {
  const server = await NatsServer.start();
  cleanups.push(() => server.stop());
  return server;
}

function run(machine: ReturnType<typeof heartbeatTicker>) {
  const actor = createActor(machine).start();
  cleanups.push(() => {
    actor.stop();
  });
  return actor;
}

function decoded<T>(result: { ok: true; value: T } | { ok: false }): T {
  if (!result.ok) throw new Error(`payload does not decode: ${JSON.stringify(result)}`);
  return result.value;
}

describe("heartbeat ticker", () => {
  it("publishes full heartbeats; CPU is absent on the first and present on the second", async () => {
    const server = await startServer();
    const obs = await observer(server, cleanups);
    const { link } = await agentLink(server.url, cleanups);
    const pcId = quickPcId("hb");
    const beats = collect<Record<string, unknown>>(obs, heartbeatSubject(pcId));
    await obs.flush();
    const ctx = tickerContext(pcId, link, { heartbeatInterval: "1s" }, ["0.1.0"]);
    run(heartbeatTicker(ctx));

    const [first, second] = await beats.waitForCount(2, { timeoutMs: 5_000 });
    const hb1 = decoded(decodeHeartbeat(first?.data));
    const hb2 = decoded(decodeHeartbeat(second?.data));
    expect(hb1).toMatchObject({
      pcId,
      agentVersion: "9.8.7-test",
      hostname: expect.any(String),
      osFamily: onLinux ? "linux" : expect.any(String),
      agentRssBytes: expect.any(Number),
      quarantinedVersions: ["0.1.0"],
    });
    expect(first?.data).not.toHaveProperty("agent_cpu_pct");
    expect(hb2.agentCpuPct).toBeGreaterThanOrEqual(0);
    // A real figure for this process: it cannot use more than every core at once.
    expect(hb2.agentCpuPct).toBeLessThan(100 * 64);
    expect(hb2.agentRssBytes).toBeGreaterThan(10 * 2 ** 20);
    if (onLinux) {
      expect(hb2.agentDiskReadBytes).toEqual(expect.any(Number));
      expect(hb2.agentDiskWrittenBytes).toEqual(expect.any(Number));
    }
    expect(Math.abs(hb2.at - Date.now())).toBeLessThan(5_000);
  });

  it("follows an interval change from config$ at once and keeps the new rate", async () => {
    const server = await startServer();
    const obs = await observer(server, cleanups);
    const { link } = await agentLink(server.url, cleanups);
    const pcId = quickPcId("hb-rate");
    const beats = collect(obs, heartbeatSubject(pcId));
    await obs.flush();
    const ctx = tickerContext(pcId, link); // default 30 s
    run(heartbeatTicker(ctx));
    await beats.waitForCount(1, { timeoutMs: 3_000 });
    beats.clear();

    const changedAt = Date.now();
    ctx.config$.next({ ...ctx.config$.value, heartbeatInterval: "1s" });
    // The change ticks at once, then every second: three beats well before the old 30 s.
    const got = await beats.waitForCount(3, { timeoutMs: 4_000 });
    expect((got[0]?.receivedAt ?? 0) - changedAt).toBeLessThan(500);
    const gap = (got[2]?.receivedAt ?? 0) - (got[1]?.receivedAt ?? 0);
    expect(gap).toBeGreaterThan(700);
    expect(gap).toBeLessThan(1_500);
  });

  it("publishes nothing while the server is down and only the reconnect beat when it is back", async () => {
    const server = await startServer();
    const obs = await observer(server, cleanups);
    // The agent goes through a proxy that can hold it off until the observer is back: otherwise
    // the agent could reconnect first and its reconnect beat would reach nobody.
    const proxy = await FaultyProxy.start({ upstreamPort: server.port });
    cleanups.push(() => proxy.close());
    const { link } = await agentLink(proxy.url, cleanups);
    const pcId = quickPcId("hb-down");
    const beats = collect<{ at: string }>(obs, heartbeatSubject(pcId));
    await obs.flush();
    run(heartbeatTicker(tickerContext(pcId, link, { heartbeatInterval: "1s" })));
    await beats.waitForCount(2, { timeoutMs: 5_000 });

    proxy.refuse(true);
    await server.stop();
    const downAt = Date.now();
    await waitFor(() => !link.isConnected, { what: "the agent to notice the outage" });
    // Three beats fall due while the server is down.
    await sleep(3_000);
    await server.restart();
    await waitFor(
      async () => {
        await withTimeout(obs.flush(), 1_000, "observer flush");
        return true;
      },
      { what: "the observer to reconnect" },
    );
    const reconnects: number[] = [];
    const woken = link.woken$.subscribe(() => {
      reconnects.push(Date.now());
      proxy.latency(0);
    });
    cleanups.push(() => woken.unsubscribe());
    // A slow handshake (3 round trips of 0.8 s): the client buffers whatever is published while
    // it dials and sends it once connected, so beats built then would arrive as a stale burst.
    proxy.latency(800);
    proxy.refuse(false);
    await waitFor(() => reconnects.length > 0, { what: "the agent to reconnect" });
    const upAt = reconnects[0] ?? 0;
    const beatAt = (m: { data: { at: string } }) => Date.parse(m.data.at);
    // Beats arrive in order: once the first one after the restarted period is in, all are.
    await beats.waitForMatch((m) => beatAt(m) > upAt + 900, { timeoutMs: 5_000 });

    const after = beats.messages.filter((m) => m.receivedAt > downAt).map(beatAt);
    // Nothing built while disconnected or still dialing arrives late.
    expect(after.filter((at) => at < upAt - 100)).toEqual([]);
    // Then the reconnect beat alone; the next one comes a whole period later.
    expect(after.filter((at) => at < upAt + 900)).toHaveLength(1);
  });
});

describe("host perf ticker", () => {
  it("first sample sets the baseline, the second carries CPU, disk and network rates", async () => {
    const server = await startServer();
    const obs = await observer(server, cleanups);
    const { link } = await agentLink(server.url, cleanups);
    const pcId = quickPcId("host");
    const perf = collect<Record<string, unknown>>(obs, hostPerfSubject(pcId));
    await obs.flush();
    run(hostPerfTicker(tickerContext(pcId, link, { hostPerfInterval: "1s" })));

    const [first, second] = await perf.waitForCount(2, { timeoutMs: 5_000 });
    const p1 = decoded(decodeHostPerf(first?.data));
    const p2 = decoded(decodeHostPerf(second?.data));
    for (const member of ["cpu_pct", "disk_read_bytes_per_sec", "net_rx_bytes_per_sec"]) {
      expect(first?.data).not.toHaveProperty(member);
    }
    expect(p1).toMatchObject({ pcId, cpuCount: expect.any(Number) });
    expect(p1.memTotalBytes).toBeGreaterThan(p1.memUsedBytes ?? Number.POSITIVE_INFINITY);
    expect(p2.cpuPct).toBeGreaterThanOrEqual(0);
    expect(p2.cpuPct).toBeLessThanOrEqual(100);
    // Our own publishes cross loopback, so the network is never idle.
    expect(p2.netRxBytesPerSec).toBeGreaterThan(0);
    expect(p2.netTxBytesPerSec).toBeGreaterThan(0);
    if (onLinux) {
      expect(p2.cpuCount).toBe(readFileSync("/proc/stat", "utf8").match(/^cpu\d/gm)?.length);
      if (listWholeDisks().size > 0) {
        expect(p2.diskReadBytesPerSec).toBeGreaterThanOrEqual(0);
        expect(p2.diskWrittenBytesPerSec).toBeGreaterThanOrEqual(0);
      }
      const swapTotal = Number(
        /^SwapTotal:\s+(\d+)/m.exec(readFileSync("/proc/meminfo", "utf8"))?.[1],
      );
      if (swapTotal === 0) expect(second?.data).not.toHaveProperty("swap_total_bytes");
      else expect(p2.swapTotalBytes).toBe(swapTotal * 1024);
    }
  });
});

describe("process perf ticker", () => {
  function busyChild(): ChildProcess {
    const child = spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" });
    killAtExit(child);
    cleanups.push(() => {
      child.kill("SIGKILL");
    });
    return child;
  }

  it("publishes the top n by CPU, sorted and cut, while active; stops when turned off", async () => {
    const server = await startServer();
    const obs = await observer(server, cleanups);
    const { link } = await agentLink(server.url, cleanups);
    const pcId = quickPcId("procs");
    const procs = collect<Record<string, unknown>>(obs, processPerfSubject(pcId));
    const host = collect(obs, hostPerfSubject(pcId));
    await obs.flush();
    const busy = busyChild();
    const ctx = tickerContext(pcId, link, {
      hostPerfInterval: "1s",
      processPerfEnabled: true,
      processPerfTopN: 8,
    });
    run(processPerfTicker(ctx));
    run(hostPerfTicker(ctx));

    const [msg] = await procs.waitForCount(1, { timeoutMs: 6_000 });
    const snap = decoded(decodeProcessPerf(msg?.data));
    expect(snap.pcId).toBe(pcId);
    expect(snap.processes).toHaveLength(8);
    const order = [...snap.processes].sort((a, b) => b.cpuPct - a.cpuPct || a.pid - b.pid);
    expect(snap.processes).toEqual(order);
    // The spinning child is among the busiest (other work on a shared test host may beat it).
    const spinner = snap.processes.find((p) => p.pid === busy.pid);
    expect(spinner).toMatchObject({ name: basename(process.execPath) });
    expect(spinner?.cpuPct).toBeGreaterThan(10);
    expect(spinner?.rssBytes).toBeGreaterThan(2 ** 20);
    // The first active tick only sampled: one host perf beat came before any process perf.
    expect(host.messages[0]?.receivedAt ?? Number.POSITIVE_INFINITY).toBeLessThan(
      msg?.receivedAt ?? 0,
    );

    ctx.config$.next({ ...ctx.config$.value, processPerfEnabled: false });
    const seen = procs.messages.length;
    const hostSeen = host.messages.length;
    await host.waitForCount(hostSeen + 3, { timeoutMs: 6_000 });
    // At most one that was being built when the switch flipped.
    expect(procs.messages.length - seen).toBeLessThanOrEqual(1);
  });

  it("publishes nothing while process perf is off or expired", async () => {
    const server = await startServer();
    const obs = await observer(server, cleanups);
    const { link } = await agentLink(server.url, cleanups);
    const pcId = quickPcId("procs-off");
    const procs = collect(obs, processPerfSubject(pcId));
    const host = collect(obs, hostPerfSubject(pcId));
    await obs.flush();
    const ctx = tickerContext(pcId, link, {
      hostPerfInterval: "1s",
      processPerfEnabled: true,
      processPerfExpiresAt: "2020-01-01T00:00:00Z",
    });
    run(processPerfTicker(ctx));
    run(hostPerfTicker(ctx));
    await host.waitForCount(3, { timeoutMs: 6_000 });
    expect(procs.messages).toEqual([]);
  });
});
