// What the periodic work costs an idle agent: `npx tsx bench/idle.bench.ts [--duration 20]`.
//
// The daemon does not run the tickers yet (src/daemon.ts), so this bench runs them in child
// processes of its own, side by side against one local nats-server, for the same window:
//   bare      a Node process holding one NATS connection and nothing else (the floor);
//   fast      heartbeat + host perf tickers at a 1 s interval (many ticks: their cost);
//   default   the same tickers at the defaults (30 s / 60 s): the agent as it idles.
// The children run compiled JavaScript on plain `node`, as the installed agent does (running them
// under tsx would add the same loader to both sides and hide the difference).
// CPU and RSS come from /proc/<pid>/stat and /status (Linux). Targets: RSS of the ticking agent
// ≤ 1.5 × bare; CPU < 1 % of one core at a 30 s heartbeat, projected from the measured cost per
// tick plus the idle cost.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { readPidStat } from "../src/services/perf/procfs.js";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const RSS_RATIO_TARGET = 1.5;
const CPU_TARGET_PCT = 1;
const WARM_UP_MS = 3_000;

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "20" },
    child: { type: "string" },
    url: { type: "string" },
    interval: { type: "string" },
    "pc-id": { type: "string" },
  },
});

if (values.child === "bare") await runBare(values.url ?? "");
else if (values.child === "agent") {
  await runAgent(values.url ?? "", values.interval ?? "30s", values["pc-id"] ?? "bench-pc");
} else await main(Number(values.duration));

// ---- children ----

async function runBare(url: string): Promise<void> {
  const { connect } = await import("@nats-io/transport-node");
  const nc = await connect({ servers: url, maxReconnectAttempts: -1 });
  await nc.flush();
  console.log("ready");
  await nc.closed();
}

async function runAgent(url: string, interval: string, pcId: string): Promise<void> {
  const { connect } = await import("@nats-io/transport-node");
  const { BehaviorSubject } = await import("rxjs");
  const { createActor } = await import("xstate");
  const { createLogger } = await import("../src/services/logging/logger.js");
  const { watchConnection } = await import("../src/services/nats/connection.js");
  const { NatsLink } = await import("../src/services/nats/link.js");
  const { systemClock } = await import("../src/services/time/clock.js");
  const { defaultEffectiveConfig } = await import("../src/services/wire/configScope.js");
  const { heartbeatTicker, hostPerfTicker } = await import("../src/wiring/tickers.js");

  const nc = await connect({ servers: url, maxReconnectAttempts: -1 });
  const link = new NatsLink();
  link.attach(nc);
  watchConnection(nc, (e) => {
    if (e.type === "DISCONNECTED") link.setUp(false);
    if (e.type === "RECONNECTED") link.setUp(true);
  });
  const base = defaultEffectiveConfig(2);
  const ctx = {
    pcId,
    agentVersion: "bench",
    platform: process.platform,
    clock: systemClock,
    link,
    log: createLogger({ level: "warn" }),
    config$: new BehaviorSubject(
      interval === "default"
        ? base
        : { ...base, heartbeatInterval: interval, hostPerfInterval: interval },
    ),
    quarantinedVersions: () => [],
  };
  createActor(heartbeatTicker(ctx)).start();
  createActor(hostPerfTicker(ctx)).start();
  await nc.flush();
  console.log("ready");
  await nc.closed();
}

// ---- parent ----

interface Usage {
  cpuTicks: number;
  rssBytes: number;
  peakRssBytes: number;
}

function usageOf(pid: number): Usage {
  const status = readFileSync(`/proc/${pid}/status`, "latin1");
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0);
  return {
    cpuTicks: readPidStat(pid)?.cpuTicks ?? Number.NaN,
    rssBytes: kib("VmRSS") * 1024,
    peakRssBytes: kib("VmHWM") * 1024,
  };
}

function clockTicks(): number {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
}

/** Compiles this file and what it imports to plain JavaScript inside the repo (for node_modules). */
function compile(outDir: string): string {
  execFileSync(
    process.execPath,
    [
      join(REPO, "node_modules/typescript/bin/tsc"),
      "--outDir",
      outDir,
      "--rootDir",
      REPO,
      "--module",
      "NodeNext",
      "--moduleResolution",
      "NodeNext",
      "--target",
      "ES2022",
      "--skipLibCheck",
      "--noCheck",
      "--types",
      "node",
      join(REPO, "bench/idle.bench.ts"),
    ],
    { stdio: "inherit" },
  );
  return join(outDir, "bench/idle.bench.js");
}

function startChild(script: string, args: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, [script, ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`child ${args.join(" ")} exited (${code})`)));
    child.stdout?.on("data", (d: Buffer) => {
      if (d.toString().includes("ready")) resolve(child);
    });
  });
}

async function startNatsServer(dir: string): Promise<{ url: string; stop: () => void }> {
  const child = spawn("nats-server", ["-a", "127.0.0.1", "-p", "-1", "--ports_file_dir", dir], {
    stdio: "ignore",
  });
  for (let i = 0; i < 200; i++) {
    await new Promise((r) => setTimeout(r, 25));
    try {
      const ports = JSON.parse(
        readFileSync(join(dir, `nats-server_${child.pid}.ports`), "utf8"),
      ) as {
        nats: string[];
      };
      const url = ports.nats[0];
      if (url) return { url, stop: () => child.kill("SIGKILL") };
    } catch {
      // not written yet
    }
  }
  child.kill("SIGKILL");
  throw new Error("nats-server did not start");
}

async function main(durationS: number): Promise<void> {
  if (process.platform !== "linux") throw new Error("idle bench reads /proc: Linux only");
  if (!(durationS > 0)) throw new Error("--duration must be a positive number of seconds");
  const work = join(REPO, ".tmp", `idle-bench-${process.pid}`);
  mkdirSync(work, { recursive: true });
  const children: ChildProcess[] = [];
  let server: { url: string; stop: () => void } | undefined;
  try {
    const script = compile(join(work, "js"));
    server = await startNatsServer(work);
    const url = server.url;
    const [bare, fast, idle] = await Promise.all([
      startChild(script, ["--child", "bare", "--url", url]),
      startChild(script, [
        "--child",
        "agent",
        "--url",
        url,
        "--interval",
        "1s",
        "--pc-id",
        "bench-fast",
      ]),
      startChild(script, [
        "--child",
        "agent",
        "--url",
        url,
        "--interval",
        "default",
        "--pc-id",
        "bench-idle",
      ]),
    ]);
    children.push(bare, fast, idle);
    await new Promise((r) => setTimeout(r, WARM_UP_MS));

    const pids = { bare: bare.pid ?? 0, fast: fast.pid ?? 0, idle: idle.pid ?? 0 };
    const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, usageOf(pid)]));
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, durationS * 1000));
    const wallS = (performance.now() - t0) / 1000;
    const after = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, usageOf(pid)]));

    const hz = clockTicks();
    const cpuPct = (k: keyof typeof pids) =>
      (((after[k]?.cpuTicks ?? 0) - (before[k]?.cpuTicks ?? 0)) / hz / wallS) * 100;
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
    for (const k of ["bare", "fast", "idle"] as const) {
      const u = after[k] as Usage;
      console.log(
        `${k.padEnd(8)} rss ${mib(u.rssBytes).padStart(10)} (peak ${mib(u.peakRssBytes)})  cpu ${cpuPct(k).toFixed(3)} % of one core`,
      );
    }
    // Two tickers at 1 s: 2 ticks a second. Their cost on top of the idle agent, per tick,
    // projected to the defaults (one heartbeat per 30 s, one host perf per 60 s).
    const perTickPct = Math.max(0, cpuPct("fast") - cpuPct("idle")) / 2;
    const projected = cpuPct("idle") + perTickPct * (1 / 30 + 1 / 60);
    const rssRatio = (after.fast?.rssBytes ?? 0) / (after.bare?.rssBytes ?? 1);
    const rssOk = rssRatio <= RSS_RATIO_TARGET;
    const cpuOk = projected < CPU_TARGET_PCT && cpuPct("idle") < CPU_TARGET_PCT;
    console.log(`window ${wallS.toFixed(1)} s after ${WARM_UP_MS / 1000} s warm-up`);
    console.log(
      `rss ratio ticking agent / bare: ${rssRatio.toFixed(2)} (target ≤ ${RSS_RATIO_TARGET}) ${rssOk ? "ok" : "ABOVE TARGET"}`,
    );
    console.log(
      `cpu: ${(perTickPct * 10).toFixed(2)} ms per tick; at 30 s / 60 s ${projected.toFixed(3)} % of one core, measured idle ${cpuPct("idle").toFixed(3)} % (target < ${CPU_TARGET_PCT} %) ${cpuOk ? "ok" : "ABOVE TARGET"}`,
    );
    console.log(
      `cpu ratio fast / bare: ${(cpuPct("fast") / Math.max(cpuPct("bare"), 1e-9)).toFixed(1)}`,
    );
    console.log(`idle bench: ${rssOk && cpuOk ? "ok" : "ABOVE TARGET"}`);
  } finally {
    for (const c of children) c.kill("SIGKILL");
    server?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
