// The launcher as users run it (`kanade-agent`), with release folders on disk: boot counting and
// rollback of a release that crashes at start, the --supervise restart on 64, and the fallbacks.

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { readReleaseState, writeReleaseState } from "../../../src/services/selfupdate/stateFile.js";
import type { ReleaseState } from "../../../src/services/wire/types.js";
import { AgentProcess, REPO_ROOT } from "../../helpers/agentProcess.js";
import { tempDir } from "../../helpers/tmp.js";
import {
  agentRelease,
  ensureLauncherBuilt,
  fakeRelease,
  installRelease,
  stagingOf,
} from "./releaseKit.js";

/** Nothing listens there: the agent runs without a broker (behavior.md 1.10). */
const NO_BROKER = "nats://127.0.0.1:1";
const BASE_VERSION = (
  JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string }
).version;

const agents: AgentProcess[] = [];
afterEach(async () => {
  for (const a of agents.splice(0)) await a.kill();
});

beforeAll(async () => {
  await Promise.all([ensureLauncherBuilt(), agentRelease("0.0.0")]);
}, 60_000);

function dataFolder() {
  const dir = tempDir("kanade-launcher-");
  return { dir, dataDir: join(dir, "data") };
}

async function setState(dataDir: string, s: Partial<ReleaseState>) {
  const staging = stagingOf(dataDir);
  mkdirSync(staging.root, { recursive: true });
  await writeReleaseState(staging, {
    current: null,
    previous: null,
    pending: null,
    quarantined: [],
    ...s,
  });
}

async function run(f: { dir: string; dataDir: string }, extra: { args?: string[] } = {}) {
  const agent = new AgentProcess({
    ...f,
    natsUrl: NO_BROKER,
    ...(extra.args ? { args: extra.args } : {}),
  });
  agents.push(agent);
  await agent.start();
  return agent;
}

describe("launcher", () => {
  it("rolls a release that crashes at every start back after three starts and quarantines it", async () => {
    const f = dataFolder();
    await installRelease(f.dataDir, "0.9.1-b", await agentRelease("0.9.1-b"));
    await installRelease(
      f.dataDir,
      "0.9.1-c",
      fakeRelease("0.9.1-c", 'throw new Error("0.9.1-c is broken");\n'),
    );
    await setState(f.dataDir, {
      current: "0.9.1-c",
      previous: "0.9.1-b",
      pending: { version: "0.9.1-c", armedAt: Date.now(), boots: 0 },
    });
    const staging = stagingOf(f.dataDir);

    for (const boots of [1, 2, 3]) {
      const agent = await run(f);
      expect((await agent.exited).code).toBe(1);
      expect(agent.logs.some((l) => /0\.9\.1-c is broken/.test(l.text))).toBe(true);
      expect((await readReleaseState(staging)).state.pending).toMatchObject({
        version: "0.9.1-c",
        boots,
      });
    }

    const agent = await run(f);
    await agent.waitForLog({
      msg: "release never confirmed its health; rolled back and quarantined",
      version: "0.9.1-c",
      rolled_back_to: "0.9.1-b",
    });
    await agent.waitForLog({ msg: "kanade-agent started", version: "0.9.1-b" }, 15_000);
    expect((await readReleaseState(staging)).state).toMatchObject({
      current: "0.9.1-b",
      pending: null,
      quarantined: ["0.9.1-c"],
    });
    // The failed release's folder is cleaned away; the running one stays.
    expect(readdirSync(staging.releases)).toEqual(["0.9.1-b"]);
  });

  it("runs the bundle of a release on its own: `node <bundle> --version`", async () => {
    const f = dataFolder();
    const { dir } = await installRelease(f.dataDir, "0.9.1-b", await agentRelease("0.9.1-b"));
    const out = execFileSync(process.execPath, [join(dir, "dist", "agent.mjs"), "--version"], {
      encoding: "utf8",
    });
    expect(out).toBe("0.9.1-b\n");
  });

  it("under --supervise, starts the agent again when it exits 64", async () => {
    const f = dataFolder();
    const marker = join(f.dir, "first-start-done");
    const script = [
      'import { existsSync, writeFileSync } from "node:fs";',
      `const marker = ${JSON.stringify(marker)};`,
      'if (!existsSync(marker)) { writeFileSync(marker, "1"); console.log("first start"); process.exit(64); }',
      // The handler exists before the line the test waits for, so its SIGTERM finds it.
      "const keep = setInterval(() => {}, 1000);",
      'process.on("SIGTERM", () => { clearInterval(keep); process.exit(0); });',
      'console.log("second start");',
    ].join("\n");
    await installRelease(f.dataDir, "0.9.1-s", fakeRelease("0.9.1-s", script));
    await setState(f.dataDir, { current: "0.9.1-s" });
    const agent = await run(f, { args: ["--supervise", "--config", join(f.dir, "agent.toml")] });
    await agent.waitForLog({ msg: "first start" });
    await agent.waitForLog({ msg: /asked for a restart \(exit 64\)/ });
    await agent.waitForLog({ msg: "second start" });
    expect(await agent.stop()).toBe(0);
  });

  it("cleans leftovers at start and runs the base install when current's folder is gone", async () => {
    const f = dataFolder();
    await installRelease(f.dataDir, "0.9.1-old", fakeRelease("0.9.1-old", "export {};\n"));
    const staging = stagingOf(f.dataDir);
    mkdirSync(join(staging.releases, "0.9.1-x.tmp"), { recursive: true });
    writeFileSync(join(staging.downloads, "0.9.1-x.part"), "half a download");
    await setState(f.dataDir, { current: "0.9.1-gone", quarantined: ["0.9.1-q"] });

    const agent = await run(f);
    await agent.waitForLog({
      msg: "release folder missing or damaged; not running it",
      version: "0.9.1-gone",
    });
    await agent.waitForLog({ msg: "kanade-agent started", version: BASE_VERSION }, 15_000);
    expect(readdirSync(staging.releases)).toEqual([]);
    expect(readdirSync(staging.downloads)).toEqual([]);
    expect((await readReleaseState(staging)).state).toMatchObject({
      current: null,
      quarantined: ["0.9.1-q"],
    });
  });

  it("answers --version and --help without any config", async () => {
    const f = dataFolder();
    const env = { KANADE_AGENT_CONFIG: undefined };
    const version = new AgentProcess({ ...f, args: ["--version"], env });
    agents.push(version);
    await version.start();
    expect((await version.exited).code).toBe(0);
    expect(version.logs.map((l) => l.text)).toEqual([BASE_VERSION]);
    const help = new AgentProcess({ ...f, args: ["--help"], env });
    agents.push(help);
    await help.start();
    expect((await help.exited).code).toBe(0);
    expect(help.logs.some((l) => /--config <file>/.test(l.text))).toBe(true);
    expect(existsSync(f.dataDir)).toBe(false);
  });
});
