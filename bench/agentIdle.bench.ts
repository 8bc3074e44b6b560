// Idle footprint of the real daemon (issue 4): the built agent connected, heartbeating every 30 s
// (defaults), against a bare Node process holding one NATS connection, in the same run.
//   npx tsx bench/agentIdle.bench.ts [--duration 60]
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import { bootstrapKanade } from "../src/services/nats/resources.js";
import { readPidStat } from "../src/services/perf/procfs.js";
import { AgentProcess, REPO_ROOT } from "../test/helpers/agentProcess.js";
import { NatsServer } from "../test/helpers/natsServer.js";
import { tempDir } from "../test/helpers/tmp.js";
import { turnInventoryOff } from "./inventoryOff.js";

const { values } = parseArgs({
  options: { duration: { type: "string", default: "60" }, "no-inventory": { type: "boolean" } },
});
const DURATION_MS = Number(values.duration) * 1000;
const TICKS_PER_SEC = 100; // USER_HZ on Linux

const cpuTicks = (pid: number) => readPidStat(pid)?.cpuTicks ?? Number.NaN;
const rss = (pid: number) =>
  Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]) * 1024;

const server = await NatsServer.start();
const nc = await connect({ servers: server.url });
await bootstrapKanade(nc, { resultOutput: true });
// `--no-inventory` leaves the hourly inventory collection out of the window (it costs ~1 s of CPU).
if (values["no-inventory"]) await turnInventoryOff(nc);
await nc.close();

// The floor: node + the NATS client, one connection, nothing else.
const bareScript = join(tempDir("bench-bare-"), "bare.mjs");
writeFileSync(
  bareScript,
  `import { connect } from ${JSON.stringify(join(REPO_ROOT, "node_modules/@nats-io/transport-node/lib/mod.js"))};\nawait connect({ servers: process.argv[2] });\nsetInterval(() => {}, 1 << 30);\n`,
);
const bare = spawn(process.execPath, [bareScript, server.url], { stdio: "ignore" });
const agent = await AgentProcess.start({
  natsUrl: server.url,
  id: "BENCH-IDLE",
  log: { level: "warn" },
});
await new Promise((r) => setTimeout(r, 5_000)); // connected, first ticks, inventory jitter may run
const t0 = { bare: cpuTicks(bare.pid!), agent: cpuTicks(agent.pid!), at: performance.now() };
await new Promise((r) => setTimeout(r, DURATION_MS));
const wall = (performance.now() - t0.at) / 1000;
const pct = (ticks: number) => (ticks / TICKS_PER_SEC / wall) * 100;
const cpu = {
  bare: pct(cpuTicks(bare.pid!) - t0.bare),
  agent: pct(cpuTicks(agent.pid!) - t0.agent),
};
const mem = { bare: rss(bare.pid!), agent: rss(agent.pid!) };
const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
console.log(
  `idle ${wall.toFixed(0)} s: bare NATS client RSS ${mib(mem.bare)}, CPU ${cpu.bare.toFixed(2)} % of a core`,
);
console.log(
  `idle ${wall.toFixed(0)} s: kanade-agent    RSS ${mib(mem.agent)}, CPU ${cpu.agent.toFixed(2)} % of a core`,
);
console.log(
  `idle: RSS ratio ${(mem.agent / mem.bare).toFixed(2)} (target ≤ 1.5), agent CPU ${cpu.agent.toFixed(2)} % (target < 1 %)`,
);
bare.kill("SIGKILL");
await agent.stop();
await server.stop();
