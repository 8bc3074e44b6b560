// `npm start`: a local broker with the kanade resource set and one agent in the foreground, so a
// newcomer sees the agent work on a fresh clone. Everything lives under ./.kanade-dev/.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { connect } from "@nats-io/transport-node";
import { bootstrapKanade } from "../services/nats/resources.js";
import { formatLogLine } from "./prettyLog.js";

const DEV_DIR = resolve(".kanade-dev");
const PC_ID = "dev-pc";

function say(line: string): void {
  process.stdout.write(`[dev] ${line}\n`);
}

function which(cmd: string): string | null {
  try {
    return execFileSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" }).trim() || null;
  } catch {
    return null;
  }
}

function ensureNatsServer(): string {
  const found = which("nats-server");
  if (found) return found;
  const isDebian = existsSync("/etc/debian_version");
  if (isDebian && process.getuid?.() === 0 && which("apt-get")) {
    say("nats-server is not installed; installing it with apt-get (Debian package nats-server)…");
    execFileSync("sh", ["-c", "apt-get update -qq && apt-get install -y -qq nats-server"], {
      stdio: "inherit",
    });
    const now = which("nats-server");
    if (now) return now;
  }
  process.stderr.write(
    "nats-server is not installed: Debian/Ubuntu `sudo apt-get install nats-server`, macOS `brew install nats-server`, Windows `winget install NATSAuthors.NATSServer` (or `choco install nats-server`)\n",
  );
  process.exit(2);
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() =>
        typeof addr === "object" && addr ? res(addr.port) : rej(new Error("no port")),
      );
    });
  });
}

async function waitForBroker(url: string, ms: number) {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return await connect({ servers: url, timeout: 1000 });
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function pipeLines(child: ChildProcess, prefix: string, pretty: boolean): void {
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on("line", (line) => {
      process.stdout.write(`${prefix}${pretty ? formatLogLine(line) : line}\n`);
    });
  }
}

async function main(): Promise<void> {
  const natsServer = ensureNatsServer();
  mkdirSync(join(DEV_DIR, "jetstream"), { recursive: true });
  const port = await freePort();
  const url = `nats://127.0.0.1:${port}`;
  const broker = spawn(
    natsServer,
    ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", join(DEV_DIR, "jetstream")],
    {
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    },
  );
  broker.on("exit", (code, signal) => {
    if (!shuttingDown) say(`nats-server exited (code ${code}, signal ${signal})`);
  });
  let shuttingDown = false;

  const nc = await waitForBroker(url, 10_000);
  await bootstrapKanade(nc, { resultOutput: true });
  await nc.close();
  say(
    `broker ${url} (JetStream store ${join(DEV_DIR, "jetstream")}), kanade streams, buckets and stores ready`,
  );

  const configPath = join(DEV_DIR, "agent.toml");
  writeFileSync(
    configPath,
    `# written by \`npm start\`; edit freely, it is rewritten on the next start\n[agent]\nid = "${PC_ID}"\nnats_url = "${url}"\ndata_dir = "${join(DEV_DIR, "data")}"\n\n[log]\nlevel = "${process.env.KANADE_LOG_LEVEL ?? "info"}"\nkeep_days = 0\n`,
  );
  say(`agent ${PC_ID} with ${configPath}; Ctrl-C stops both`);

  const agent = spawn(process.execPath, [resolve("bin/kanade-agent.js"), "--config", configPath], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, KANADE_AGENT_CONFIG: "" },
    // Its own process group: a terminal Ctrl-C reaches only this script, which forwards one
    // SIGTERM (a second signal would make the agent skip its graceful stop).
    detached: true,
  });
  pipeLines(agent, "", true);

  const stopAll = () => {
    if (shuttingDown) return;
    shuttingDown = true;
    say("stopping agent and broker…");
    agent.kill("SIGTERM");
  };
  process.on("SIGINT", stopAll);
  process.on("SIGTERM", stopAll);
  agent.on("exit", (code) => {
    shuttingDown = true;
    broker.kill("SIGTERM");
    broker.once("exit", () => process.exit(code ?? 0));
    setTimeout(() => process.exit(code ?? 0), 3000).unref();
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`[dev] ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
