// The whole cycle through the real daemon: a running release sees target_version in agent_config,
// downloads, stages and exits 64; the next start runs the new release, which confirms its health
// and reports the quarantine in its heartbeats. Needs the daemon to wire the self-updater and the
// release health (src/daemon.ts); skipped until it does.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { bootstrapKanade } from "../../../src/services/nats/resources.js";
import { heartbeatSubject, KV_AGENT_CONFIG } from "../../../src/services/nats/subjects.js";
import { readReleaseState, writeReleaseState } from "../../../src/services/selfupdate/stateFile.js";
import { AgentProcess, REPO_ROOT } from "../../helpers/agentProcess.js";
import { NatsServer } from "../../helpers/natsServer.js";
import { tempDir } from "../../helpers/tmp.js";
import { collect, waitFor } from "../../helpers/waitFor.js";
import {
  agentRelease,
  ensureLauncherBuilt,
  installRelease,
  publishRelease,
  stagingOf,
} from "./releaseKit.js";

const wired = readFileSync(join(REPO_ROOT, "src", "daemon.ts"), "utf8").includes("selfUpdateActor");

let server: NatsServer;
let admin: NatsConnection;
const agents: AgentProcess[] = [];

describe.skipIf(!wired)("self-update through the daemon", () => {
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
    for (const a of agents.splice(0)) await a.kill();
  });

  it("updates on target_version, exits 64, runs and confirms the new release", async () => {
    const dir = tempDir("kanade-agent-update-");
    const dataDir = join(dir, "data");
    await installRelease(dataDir, "0.9.1-a", await agentRelease("0.9.1-a"));
    const staging = stagingOf(dataDir);
    await writeReleaseState(staging, {
      current: "0.9.1-a",
      previous: null,
      pending: null,
      quarantined: [],
    });
    await publishRelease(admin, "0.9.1-b", await agentRelease("0.9.1-b"));
    const kv = await new Kvm(admin).open(KV_AGENT_CONFIG);
    await kv.put("global", JSON.stringify({ target_version: "0.9.1-b" }));

    const opts = {
      dir,
      dataDir,
      natsUrl: server.url,
      env: { KANADE_AGENT_CONFIRM_DEADLINE_MS: "20000" },
    };
    const first = new AgentProcess(opts);
    agents.push(first);
    await first.start();
    await first.waitForLog({ msg: "kanade-agent started", version: "0.9.1-a" }, 15_000);
    expect((await first.exited).code).toBe(64);
    expect((await readReleaseState(staging)).state).toMatchObject({
      current: "0.9.1-b",
      previous: "0.9.1-a",
      pending: { version: "0.9.1-b", boots: 0 },
    });

    // Something rolled back earlier: the new release reports it in every heartbeat.
    const armed = (await readReleaseState(staging)).state;
    await writeReleaseState(staging, { ...armed, quarantined: ["0.9.1-z"] });

    const beats = collect<Record<string, unknown>>(admin, heartbeatSubject(first.pcId));
    await admin.flush();
    const second = new AgentProcess({ ...opts, id: first.pcId });
    agents.push(second);
    await second.start();
    const beat = await beats.waitForMatch((m) => m.data.agent_version === "0.9.1-b", {
      timeoutMs: 20_000,
    });
    expect(beat.data.quarantined_versions).toEqual(["0.9.1-z"]);
    await waitFor(async () => (await readReleaseState(staging)).state.pending === null, {
      timeoutMs: 15_000,
      what: "the new release to confirm its health",
    });
    expect((await readReleaseState(staging)).state).toMatchObject({
      current: "0.9.1-b",
      previous: "0.9.1-a",
      quarantined: ["0.9.1-z"],
    });
    beats.stop();
  });
});
