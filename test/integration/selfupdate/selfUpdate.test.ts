// The self-updater against a real nats-server and object store, driven in-process through its
// wiring (as the daemon does), then the launcher running what it staged.

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/nats-core";
import { Objm } from "@nats-io/obj";
import { connect } from "@nats-io/transport-node";
import { BehaviorSubject } from "rxjs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createActor } from "xstate";
import { prepareDataDir } from "../../../src/services/fs/dataDir.js";
import { createLogger } from "../../../src/services/logging/logger.js";
import { NatsLink } from "../../../src/services/nats/link.js";
import { bootstrapKanade } from "../../../src/services/nats/resources.js";
import { OBJ_AGENT_RELEASES } from "../../../src/services/nats/subjects.js";
import { readReleaseState } from "../../../src/services/selfupdate/stateFile.js";
import { systemClock } from "../../../src/services/time/clock.js";
import { defaultEffectiveConfig } from "../../../src/services/wire/configScope.js";
import { encodeCommand } from "../../../src/services/wire/index.js";
import type { EffectiveConfig } from "../../../src/services/wire/types.js";
import { type SelfUpdateOptions, selfUpdateActor } from "../../../src/wiring/selfUpdate.js";
import { AgentProcess } from "../../helpers/agentProcess.js";
import { sampleCommand } from "../../helpers/commands.js";
import { NatsServer } from "../../helpers/natsServer.js";
import { tempDir } from "../../helpers/tmp.js";
import { waitFor, withTimeout } from "../../helpers/waitFor.js";
import {
  agentRelease,
  ensureLauncherBuilt,
  publishRelease,
  stagingOf,
  tamperDigest,
} from "./releaseKit.js";

type Line = Record<string, unknown> & { msg: string; level: string };

let server: NatsServer;
let admin: NatsConnection;
const cleanups: (() => Promise<unknown> | unknown)[] = [];

beforeAll(async () => {
  server = await NatsServer.start();
  admin = await connect({ servers: server.url });
  await bootstrapKanade(admin);
  await Promise.all([ensureLauncherBuilt(), agentRelease("0.0.0")]);
}, 60_000);

afterAll(async () => {
  await admin?.close();
  await server?.stop();
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function updater(
  opts: { running: string; url?: string; quarantined?: string[] } & SelfUpdateOptions,
) {
  const dir = tempDir("kanade-selfupdate-");
  const dataDir = join(dir, "data");
  const layout = await prepareDataDir(dataDir);
  const nc = await connect({ servers: opts.url ?? server.url });
  cleanups.push(() => nc.close());
  const link = new NatsLink();
  link.attach(nc);
  const lines: Line[] = [];
  const log = createLogger({
    level: "debug",
    destination: { write: (s: string) => void lines.push(JSON.parse(s) as Line) },
  });
  const config$ = new BehaviorSubject<EffectiveConfig>(defaultEffectiveConfig(2));
  const gate = {
    holds: 0,
    resumes: 0,
    running: 0,
    holdLaunches() {
      this.holds++;
    },
    resumeLaunches() {
      this.resumes++;
    },
    runningCommands() {
      return this.running;
    },
  };
  const restarts: number[] = [];
  let onRestart: (code: number) => void = () => {};
  const restarted = new Promise<number>((r) => {
    onRestart = r;
  });
  const actor = createActor(
    selfUpdateActor(
      {
        agentVersion: opts.running,
        layout,
        log,
        clock: systemClock,
        random: () => 0.5,
        link,
        config$,
        quarantinedVersions: () => opts.quarantined ?? [],
      },
      {
        commands: gate,
        requestRestart: (code) => {
          restarts.push(code);
          onRestart(code);
        },
      },
      opts,
    ),
  ).start();
  cleanups.push(() => actor.stop());
  const target = (version: string | null) =>
    config$.next({ ...config$.value, targetVersion: version });
  const logged = (msg: string | RegExp, timeoutMs = 15_000) =>
    waitFor(() => lines.some((l) => (typeof msg === "string" ? l.msg === msg : msg.test(l.msg))), {
      timeoutMs,
      what: `log line ${String(msg)} (last: ${lines
        .slice(-5)
        .map((l) => l.msg)
        .join(" | ")})`,
    }).then(() => lines.find((l) => (typeof msg === "string" ? l.msg === msg : msg.test(l.msg))));
  return { dir, dataDir, layout, actor, lines, gate, restarts, restarted, target, logged };
}

describe("self-update from agent_releases", () => {
  it("stages a published release, asks for a restart with 64, and the launcher then runs it", async () => {
    await publishRelease(admin, "0.9.1-b", await agentRelease("0.9.1-b"));
    const u = await updater({ running: "0.9.1-a" });
    u.target("0.9.1-b");

    expect(await withTimeout(u.restarted, 20_000, "requestRestart")).toBe(64);
    const staging = stagingOf(u.dataDir);
    const { state } = await readReleaseState(staging);
    expect(state).toMatchObject({
      current: "0.9.1-b",
      previous: null,
      pending: { version: "0.9.1-b", boots: 0 },
      quarantined: [],
    });
    const manifest = JSON.parse(
      readFileSync(join(staging.releases, "0.9.1-b", "package.json"), "utf8"),
    ) as { name: string; version: string };
    expect(manifest).toMatchObject({ name: "kanade-agent", version: "0.9.1-b" });
    expect(readdirSync(staging.downloads)).toEqual([]);
    expect(u.gate.holds).toBe(1);
    expect(u.lines.some((l) => l.msg === "release download progress")).toBe(true);
    expect(u.lines.find((l) => l.msg === "release downloaded and verified")).toMatchObject({
      version: "0.9.1-b",
    });

    // The launcher answers --version with the staged release without counting a boot.
    const version = new AgentProcess({
      dir: u.dir,
      dataDir: u.dataDir,
      natsUrl: server.url,
      args: ["--config", join(u.dir, "agent.toml"), "--version"],
    });
    await version.start();
    cleanups.push(() => version.kill());
    expect((await version.exited).code).toBe(0);
    expect(version.logs.map((l) => l.text)).toContain("0.9.1-b");
    expect((await readReleaseState(staging)).state.pending?.boots).toBe(0);

    // A start runs the new release, counting its first unconfirmed boot.
    const agent = await AgentProcess.start({ dir: u.dir, dataDir: u.dataDir, natsUrl: server.url });
    cleanups.push(() => agent.kill());
    await agent.waitForLog({ msg: "kanade-agent started", version: "0.9.1-b" }, 15_000);
    expect((await readReleaseState(staging)).state.pending).toMatchObject({
      version: "0.9.1-b",
      boots: 1,
    });
    // The bundle runs commands, through its spawn helper (its source is the bundled engine).
    await agent.waitForLog({ msg: "connected" }, 10_000);
    const cmd = sampleCommand({ script: "echo from the release" });
    const result = admin.subscribe(`results.${cmd.requestId}`, { max: 1 });
    await admin.flush();
    admin.publish(`commands.pc.${agent.pcId}`, JSON.stringify(encodeCommand(cmd)));
    for await (const m of result) {
      expect(m.json()).toMatchObject({ exit_code: 0, stdout: "from the release\n" });
    }
    expect(agent.logs.some((l) => /spawn helper/.test(l.text) && l.json?.level === "error")).toBe(
      false,
    );
    // Signals reach the release unchanged: it runs in the launcher's own process.
    expect(await agent.stop()).toBe(0);
  });

  it("refuses an object whose digest does not match, and stages nothing", async () => {
    await publishRelease(admin, "0.9.1-c", await agentRelease("0.9.1-c"));
    await tamperDigest(admin, "0.9.1-c");
    const u = await updater({ running: "0.9.1-a" });
    u.target("0.9.1-c");

    const refused = await u.logged(
      "release refused; not retried until target_version changes or the agent restarts",
    );
    expect(refused).toMatchObject({ level: "error", version: "0.9.1-c", reason: /SHA-256/ });
    const staging = stagingOf(u.dataDir);
    expect(existsSync(staging.releases) ? readdirSync(staging.releases) : []).toEqual([]);
    expect(readdirSync(staging.downloads)).toEqual([]);
    expect(existsSync(staging.stateFile)).toBe(false);
    expect(u.restarts).toEqual([]);
    expect(u.actor.getSnapshot().value).toBe("idle");
  });

  it("refuses a release over the size limit", async () => {
    await publishRelease(admin, "0.9.1-d", await agentRelease("0.9.1-d"));
    const u = await updater({ running: "0.9.1-a", maxBytes: 1024 });
    u.target("0.9.1-d");
    const refused = await u.logged(
      "release refused; not retried until target_version changes or the agent restarts",
    );
    expect(refused).toMatchObject({ version: "0.9.1-d", reason: /limit 1024/ });
    expect(u.restarts).toEqual([]);
  });

  it("does nothing when target_version equals the running version or is quarantined", async () => {
    const u = await updater({ running: "0.9.1-a", quarantined: ["0.9.1-q"] });
    await waitFor(() => u.actor.getSnapshot().value === "idle", { what: "self-update idle" });
    u.target("0.9.1-a");
    expect(u.actor.getSnapshot().value).toBe("idle");
    u.target("0.9.1-q");
    expect(u.actor.getSnapshot().value).toBe("idle");
    expect(u.lines.find((l) => /quarantined/.test(l.msg))).toMatchObject({
      level: "warn",
      version: "0.9.1-q",
    });
    expect(u.lines.some((l) => l.msg === "self-update to target_version")).toBe(false);
    expect(existsSync(stagingOf(u.dataDir).downloads)).toBe(false);
  });

  it("waits for the agent_releases store to appear instead of giving up", async () => {
    const bare = await NatsServer.start();
    cleanups.push(() => bare.stop());
    const u = await updater({ running: "0.9.1-a", url: bare.url });
    u.target("0.9.1-e");
    await u.logged("object store agent_releases: not available, retrying");
    const nc = await connect({ servers: bare.url });
    cleanups.push(() => nc.close());
    // Only the store (what a backend creates at start), so the next retry finds it.
    await new Objm(nc).create(OBJ_AGENT_RELEASES);
    await publishRelease(nc, "0.9.1-e", await agentRelease("0.9.1-e"));
    expect(await withTimeout(u.restarted, 20_000, "requestRestart")).toBe(64);
    expect((await readReleaseState(stagingOf(u.dataDir))).state.current).toBe("0.9.1-e");
  });
});
