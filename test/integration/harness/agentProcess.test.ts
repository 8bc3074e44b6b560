import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "smol-toml";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { AgentProcess, ensureAgentBuilt, REPO_ROOT } from "../../helpers/agentProcess.js";
import { NatsServer } from "../../helpers/natsServer.js";
import { tempDir } from "../../helpers/tmp.js";

const agents: AgentProcess[] = [];
let server: NatsServer | undefined;

afterEach(async () => {
  for (const a of agents.splice(0)) await a.kill();
  await server?.stop();
  server = undefined;
});

function track(a: AgentProcess): AgentProcess {
  agents.push(a);
  return a;
}

// A stand-in with the agent's output conventions (pino JSON lines, a stray text line, exit on
// SIGTERM), so the helper's own behaviour is tested without depending on the daemon.
const FAKE_AGENT = `
const line = (o) => process.stdout.write(JSON.stringify({ level: "info", time: new Date().toISOString(), ...o }) + "\\n");
line({ msg: "fake started", config: process.argv[3], marker: process.env.FAKE_MARKER ?? null, leaked: process.env.KANADE_LEAK ?? null });
process.stdout.write("plain text line\\n");
process.stderr.write("a warning on stderr\\n");
if (process.env.FAKE_EXIT) process.exit(Number(process.env.FAKE_EXIT));
const tick = setInterval(() => line({ msg: "tick" }), 50);
process.on("SIGTERM", () => { clearInterval(tick); line({ msg: "stopping" }); process.exit(7); });
`;

describe("AgentProcess (helper behaviour, against a stand-in script)", () => {
  let entry: string;
  beforeAll(() => {
    entry = join(tempDir("kanade-fake-agent-"), "fake-agent.mjs");
    writeFileSync(entry, FAKE_AGENT);
  });

  it("writes agent.toml with id, nats_url, data_dir, keep_days = 0 and extra TOML", () => {
    const a = new AgentProcess({
      id: "PC.001",
      natsUrl: ["nats://127.0.0.1:1", "nats://127.0.0.1:2"],
      log: { level: "debug" },
      extraToml: "[signing]\nrequire = true",
    });
    const toml = parse(readFileSync(a.configPath, "utf8"));
    expect(toml).toEqual({
      agent: {
        id: "PC.001",
        nats_url: ["nats://127.0.0.1:1", "nats://127.0.0.1:2"],
        data_dir: a.dataDir,
      },
      log: { keep_days: 0, level: "debug" },
      signing: { require: true },
    });
    expect(a.pcId).toBe("PC.001");
    expect(a.dataDir.startsWith(a.dir)).toBe(true);
  });

  it("captures JSON and text lines and finds them by fields, RegExp or predicate", async () => {
    process.env.KANADE_LEAK = "from the runner";
    const a = track(new AgentProcess({ entry, natsUrl: "nats://x", env: { FAKE_MARKER: "m1" } }));
    try {
      await a.start();
    } finally {
      delete process.env.KANADE_LEAK;
    }

    const started = await a.waitForLog({ msg: "fake started", marker: "m1" }, 5_000);
    expect(started.json?.config).toBe(a.configPath);
    expect(started.json?.leaked).toBeNull();
    await a.waitForLog({ msg: /^plain text/ }, 5_000);
    const warn = await a.waitForLog((l) => l.stream === "stderr", 5_000);
    expect(warn.text).toBe("a warning on stderr");

    const mark = a.mark();
    const tick = await a.waitForLog({ msg: "tick" }, 5_000, { after: mark });
    expect(tick.seq).toBeGreaterThanOrEqual(mark);
    expect(a.logs.length).toBeGreaterThan(3);
  });

  it("stop() sends SIGTERM and returns the exit code", async () => {
    const a = track(await AgentProcess.start({ entry, natsUrl: "nats://x" }));
    await a.waitForLog({ msg: "tick" }, 5_000);
    expect(await a.stop()).toBe(7);
    expect(a.logs.some((l) => l.json?.msg === "stopping")).toBe(true);
    expect(await a.exited).toEqual({ code: 7, signal: null });
  });

  it("kill() ends the process with SIGKILL", async () => {
    const a = track(await AgentProcess.start({ entry, natsUrl: "nats://x" }));
    await a.waitForLog({ msg: "tick" }, 5_000);
    expect(await a.kill()).toEqual({ code: null, signal: "SIGKILL" });
    expect(a.running).toBe(false);
  });

  it("waitForLog rejects as soon as the process exits, quoting its last lines", async () => {
    const a = track(
      await AgentProcess.start({ entry, natsUrl: "nats://x", env: { FAKE_EXIT: "3" } }),
    );
    const t0 = Date.now();
    const err = await a.waitForLog({ msg: "never logged" }, 20_000).catch((e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(String(err)).toMatch(/exited \(code 3\)/);
    expect(String(err)).toMatch(/plain text line/);
    expect(String(err)).toMatch(/msg=".*never logged/);
  });

  it("waitForLog rejects on timeout, quoting the last lines", async () => {
    const a = track(await AgentProcess.start({ entry, natsUrl: "nats://x" }));
    await a.waitForLog({ msg: "tick" }, 5_000);
    await expect(a.waitForLog({ msg: "never logged" }, 300)).rejects.toThrow(
      /timed out after 300 ms[\s\S]*"msg":"tick"/,
    );
  });
});

// The real daemon, through the installed entry point bin/kanade-agent.js → the base bundle.
describe("AgentProcess (the built agent)", () => {
  beforeAll(async () => {
    await ensureAgentBuilt();
  }, 120_000);

  it("--version prints the package version and exits 0", async () => {
    const version = (
      JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string }
    ).version;
    const a = track(await AgentProcess.start({ args: ["--version"] }));
    const exit = await a.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(a.logs.filter((l) => l.stream === "stdout").map((l) => l.text)).toEqual([version]);
  });

  it("starts with the generated config, connects, and stops on SIGTERM with exit 0", async () => {
    server = await NatsServer.start();
    const a = track(await AgentProcess.start({ natsUrl: server.url }));
    const started = await a.waitForLog({ msg: "kanade-agent started" }, 10_000);
    expect(started.json).toMatchObject({
      pc_id: a.pcId,
      nats_url: server.url,
      data_dir: a.dataDir,
      version: expect.any(String),
    });
    await a.waitForLog({ msg: "connected" }, 10_000);
    expect(await a.stop("SIGTERM", 6_000)).toBe(0);
  });
});
