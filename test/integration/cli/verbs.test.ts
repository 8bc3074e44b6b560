// The operator verbs, run in-process against a real nats-server with the kanade resource set.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { AckPolicy, jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { Objm } from "@nats-io/obj";
import { connect } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { bootstrapKanade } from "../../../src/services/nats/resources.js";
import {
  commandsPc,
  heartbeatSubject,
  KV_AGENT_CONFIG,
  KV_AGENT_GROUPS,
  KV_SCRIPT_STATUS,
  OBJ_RESULT_OUTPUT,
  pingSubject,
  resultOutputKey,
  resultSubject,
  stateRequestSubject,
} from "../../../src/services/nats/subjects.js";
import {
  type Command,
  decodeCommand,
  type ExecResult,
  encodeExecResult,
  encodeHeartbeat,
  parseJson,
} from "../../../src/services/wire/index.js";
import { NatsServer } from "../../helpers/natsServer.js";
import { tempDir } from "../../helpers/tmp.js";
import { collect, waitFor } from "../../helpers/waitFor.js";
import { cli, jsonOut, startCli } from "./cliHarness.js";

let server: NatsServer;
let nc: NatsConnection;
let url: string;

beforeAll(async () => {
  server = await NatsServer.start();
  url = server.url;
  nc = await connect({ servers: url });
  await bootstrapKanade(nc, { resultOutput: true });
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

const kv = (bucket: string) => new Kvm(nc).open(bucket);

async function kvJson(bucket: string, key: string): Promise<unknown> {
  const e = await (await kv(bucket)).get(key);
  return e === null || e.operation !== "PUT" ? null : JSON.parse(e.string());
}

describe("usage and connection errors", () => {
  it("exits 2 with one line on a usage error", async () => {
    const r = await cli(url, "run", "PC1", "--shell", "bash", "--", "true");
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^kanade: .*bash/);
  });

  it("exits 2 on an invalid duration and on a missing scope for rollout", async () => {
    expect((await cli(url, "agents", "--since", "soon")).code).toBe(2);
    const r = await cli(url, "agent", "rollout", "1.0.0", "--force");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--global, --group <group> or --pc <pc_id>");
  });

  it("exits 3 when the broker does not finish the handshake within 5 s", async () => {
    // Accepts TCP connections and never sends INFO.
    const silent: Server = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const started = Date.now();
      const r = await cli(`nats://127.0.0.1:${port}`, "jetstream", "status");
      expect(r.code).toBe(3);
      expect(Date.now() - started).toBeLessThan(9_000);
      expect(r.stderr).toMatch(/^kanade: cannot connect to nats:\/\/127\.0\.0\.1:\d+: .+\n$/);
    } finally {
      silent.close();
    }
  }, 15_000);

  it("takes the URL from KANADE_NATS_URL", async () => {
    const r = await startCli(["jetstream", "status", "--json"], { env: { KANADE_NATS_URL: url } })
      .done;
    expect(r.code).toBe(0);
  });
});

describe("jetstream", () => {
  it("setup is idempotent and status lists what it made", async () => {
    const first = await cli(url, "jetstream", "setup", "--json");
    expect(first.code).toBe(0);
    const second = await cli(url, "jetstream", "setup");
    expect(second.code).toBe(0);
    expect(second.stdout).toContain("nothing to do");

    await nc.publish(commandsPc("STATUS-PC"), "{}");
    await nc.flush();
    const status = await cli(url, "jetstream", "status", "--json");
    expect(status.code).toBe(0);
    const s = jsonOut<{
      streams: { name: string; messages: number }[];
      kv_buckets: { bucket: string; keys: number; history: number }[];
      object_stores: { store: string }[];
      missing: string[];
    }>(status);
    expect(s.streams.map((x) => x.name)).toEqual([
      "AUDIT",
      "EVENTS",
      "EXEC",
      "INVENTORY",
      "RESULTS",
    ]);
    expect(s.streams.find((x) => x.name === "EXEC")?.messages).toBeGreaterThanOrEqual(1);
    expect(s.kv_buckets.find((b) => b.bucket === KV_AGENT_CONFIG)?.history).toBe(5);
    expect(s.object_stores.map((o) => o.store).sort()).toEqual(["agent_releases", "result_output"]);
    expect(s.missing).toEqual([]);

    const text = await cli(url, "jetstream", "status");
    expect(text.stdout).toMatch(/^EXEC\s+commands\.>\s+\d+/m);
    expect(text.stdout).toMatch(/^agent_groups\s+\d+\s+5/m);
  });

  it("status shows the consumers of EXEC and counts live KV keys only", async () => {
    const jsm = await jetstream(nc).jetstreamManager();
    await jsm.consumers.add("EXEC", {
      durable_name: "agent_replay_X1",
      ack_policy: AckPolicy.Explicit,
    });
    const current = await kv("script_current");
    await current.put("a", "1.0.0");
    await current.put("b", "1.0.0");
    await current.delete("b");
    const status = jsonOut<{
      exec_consumers: { name: string; num_pending: number }[];
      kv_buckets: { bucket: string; keys: number; values: number }[];
    }>(await cli(url, "jetstream", "status", "--json"));
    expect(status.exec_consumers.map((c) => c.name)).toEqual(["agent_replay_X1"]);
    expect(status.kv_buckets.find((b) => b.bucket === "script_current")).toMatchObject({
      keys: 1,
      values: 3,
    });
  });
});

describe("revoke / unrevoke / kill", () => {
  it("revoke writes REVOKED and unrevoke ACTIVE", async () => {
    expect((await cli(url, "revoke", "inventory-hw")).code).toBe(0);
    const status = await kv(KV_SCRIPT_STATUS);
    expect((await status.get("inventory-hw"))?.string()).toBe("REVOKED");
    expect((await cli(url, "unrevoke", "inventory-hw")).code).toBe(0);
    expect((await status.get("inventory-hw"))?.string()).toBe("ACTIVE");
  });

  it("kill publishes on kill.<exec_id>", async () => {
    const kills = collect(nc, "kill.*");
    await nc.flush();
    expect((await cli(url, "kill", "deploy-42")).code).toBe(0);
    const m = await kills.waitForCount(1);
    expect(m[0]?.subject).toBe("kill.deploy-42");
    kills.stop();
  });
});

describe("agent rollout / current / publish", () => {
  let release: string;
  beforeAll(() => {
    // A minimal npm-pack layout: everything under package/.
    const dir = tempDir("kanade-cli-pkg-");
    mkdirSync(join(dir, "package", "dist"), { recursive: true });
    writeFileSync(
      join(dir, "package", "package.json"),
      JSON.stringify({ name: "kanade-agent", version: "0.7.0" }),
    );
    writeFileSync(join(dir, "package", "dist", "main.js"), "console.log('hi')\n");
    release = join(dir, "kanade-agent-0.7.0.tgz");
    execFileSync("tar", ["czf", release, "-C", dir, "package"]);
  });

  it("publish takes the version from the package and refuses to overwrite it", async () => {
    const r = await cli(url, "agent", "publish", release, "--json");
    expect(r.code).toBe(0);
    expect(jsonOut(r)).toMatchObject({ version: "0.7.0" });
    const os = await new Objm(nc).open("agent_releases");
    expect((await os.info("0.7.0"))?.size).toBeGreaterThan(0);
    const again = await cli(url, "agent", "publish", release);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("already exists");
    const mismatch = await cli(url, "agent", "publish", release, "--version", "0.8.0");
    expect(mismatch.code).toBe(1);
  });

  it("rollout --group canary --jitter 10m writes exactly the two members", async () => {
    const r = await cli(url, "agent", "rollout", "0.7.0", "--group", "canary", "--jitter", "10m");
    expect(r.code).toBe(0);
    expect(await kvJson(KV_AGENT_CONFIG, "groups.canary")).toEqual({
      target_version: "0.7.0",
      target_version_jitter: "10m",
    });
  });

  it("rollout keeps the scope's other members, known or not", async () => {
    const config = await kv(KV_AGENT_CONFIG);
    await config.put(
      "groups.wave1",
      JSON.stringify({
        heartbeat_interval: "20s",
        process_perf_top_n: 5,
        client_display_name: "Wave 1",
      }),
    );
    expect((await cli(url, "agent", "rollout", "0.7.0", "--group", "wave1")).code).toBe(0);
    expect(await kvJson(KV_AGENT_CONFIG, "groups.wave1")).toEqual({
      target_version: "0.7.0",
      heartbeat_interval: "20s",
      process_perf_top_n: 5,
      client_display_name: "Wave 1",
    });
  });

  it("rollout refuses a version that was never published", async () => {
    const r = await cli(url, "agent", "rollout", "9.9.9", "--global");
    expect(r.code).toBe(1);
    expect(await kvJson(KV_AGENT_CONFIG, "global")).toBeNull();
  });

  it("current lists the target_version per scope", async () => {
    await cli(url, "agent", "rollout", "0.7.0", "--pc", "PC-ROLL");
    const out = jsonOut<{ scopes: { key: string; target_version: string | null }[] }>(
      await cli(url, "agent", "current", "--json"),
    );
    expect(out.scopes[0]).toEqual({
      key: "global",
      target_version: null,
      target_version_jitter: null,
    });
    expect(out.scopes).toContainEqual({
      key: "groups.canary",
      target_version: "0.7.0",
      target_version_jitter: "10m",
    });
    expect(out.scopes).toContainEqual({
      key: "pcs.PC-ROLL",
      target_version: "0.7.0",
      target_version_jitter: null,
    });
  });
});

describe("agent groups", () => {
  it("add / rm keep the list sorted and unique", async () => {
    expect((await cli(url, "agent", "groups", "add", "PCG", "wave2", "canary", "wave2")).code).toBe(
      0,
    );
    expect(await kvJson(KV_AGENT_GROUPS, "PCG")).toEqual({ groups: ["canary", "wave2"] });
    await cli(url, "agent", "groups", "add", "PCG", "alpha", "canary");
    expect(await kvJson(KV_AGENT_GROUPS, "PCG")).toEqual({ groups: ["alpha", "canary", "wave2"] });
    await cli(url, "agent", "groups", "rm", "PCG", "canary", "nope");
    expect(await kvJson(KV_AGENT_GROUPS, "PCG")).toEqual({ groups: ["alpha", "wave2"] });
    const list = await cli(url, "agent", "groups", "list", "PCG", "--json");
    expect(jsonOut(list)).toMatchObject({ pc_id: "PCG", groups: ["alpha", "wave2"] });
    await cli(url, "agent", "groups", "set", "PCG", "zeta", "beta");
    expect(await kvJson(KV_AGENT_GROUPS, "PCG")).toEqual({ groups: ["beta", "zeta"] });
  });

  it("refuses a group name that breaks the naming rule", async () => {
    const r = await cli(url, "agent", "groups", "add", "PCG", "bad group");
    expect(r.code).toBe(2);
  });
});

describe("config", () => {
  it("set validates values and writes the scope", async () => {
    expect((await cli(url, "config", "set", "heartbeat_interval", "15s", "--pc", "PC1")).code).toBe(
      0,
    );
    expect(await kvJson(KV_AGENT_CONFIG, "pcs.PC1")).toEqual({ heartbeat_interval: "15s" });
    expect(
      (await cli(url, "config", "set", "heartbeat_interval", "fast", "--pc", "PC1")).code,
    ).toBe(2);
    expect((await cli(url, "config", "set", "inventory_enabled", "maybe")).code).toBe(2);
    expect((await cli(url, "config", "set", "process_perf_top_n", "-3")).code).toBe(2);
    expect(
      (await cli(url, "config", "set", "inventory_enabled=false", "--group", "lab")).code,
    ).toBe(0);
    expect(await kvJson(KV_AGENT_CONFIG, "groups.lab")).toEqual({ inventory_enabled: false });
    expect((await cli(url, "config", "unset", "inventory_enabled", "--group", "lab")).code).toBe(0);
    expect(await kvJson(KV_AGENT_CONFIG, "groups.lab")).toEqual({});
    expect((await cli(url, "config", "clear", "--group", "lab")).code).toBe(0);
    expect(await kvJson(KV_AGENT_CONFIG, "groups.lab")).toBeNull();
    const get = await cli(url, "config", "get", "--pc", "PC1", "--json");
    expect(jsonOut(get)).toMatchObject({ key: "pcs.PC1", value: { heartbeat_interval: "15s" } });
  });

  it("effective resolves like the agent: pc over groups over global, conflicts reported", async () => {
    await cli(url, "config", "set", "heartbeat_interval", "15s", "--pc", "PCE");
    await cli(url, "config", "set", "host_perf_interval", "2m");
    await cli(url, "config", "set", "host_perf_interval", "3m", "--group", "ga");
    await cli(url, "config", "set", "host_perf_interval", "4m", "--group", "gb");
    await cli(url, "config", "set", "heartbeat_interval", "5s", "--group", "gb");
    await cli(url, "agent", "groups", "set", "PCE", "gb", "ga");
    const r = await cli(url, "config", "effective", "PCE", "--json");
    expect(r.code).toBe(0);
    const e = jsonOut<{
      groups: string[];
      config: Record<string, unknown>;
      sources: Record<string, string>;
      conflicts: { field: string; groups: string[] }[];
    }>(r);
    expect(e.groups).toEqual(["ga", "gb"]);
    expect(e.config.heartbeat_interval).toBe("15s");
    expect(e.config.host_perf_interval).toBe("4m");
    expect(e.sources.host_perf_interval).toBe("groups.gb");
    expect(e.conflicts).toEqual([{ field: "host_perf_interval", groups: ["ga", "gb"] }]);
    // A remote PC's CPU count is unknown: the default is left out.
    expect(e.config).not.toHaveProperty("max_local_concurrent");

    const text = await cli(url, "config", "effective", "PCE");
    expect(text.stdout).toMatch(/^max_local_concurrent\s+cpus\s+default$/m);
    expect(text.stdout).toMatch(/^heartbeat_interval\s+15s\s+pcs\.PCE$/m);
  });
});

describe("ping and agent state", () => {
  it("ping prints the agent's heartbeat; no responders is a one-line failure", async () => {
    const sub = nc.subscribe(pingSubject("PCP"), {
      callback: (_err, msg) => {
        const hb = { pcId: "PCP", at: Date.now(), agentVersion: "0.9.1", hostname: "pcp" };
        msg.respond(JSON.stringify(encodeHeartbeat(hb)));
      },
    });
    await nc.flush();
    const r = await cli(url, "ping", "PCP", "--json");
    sub.unsubscribe();
    expect(r.code).toBe(0);
    expect(jsonOut(r)).toMatchObject({ pc_id: "PCP", agent_version: "0.9.1", hostname: "pcp" });
    const none = await cli(url, "ping", "NOBODY");
    expect(none.code).toBe(1);
    expect(none.stderr).toBe(
      "kanade: no agent answers on agents.NOBODY.ping (NOBODY is offline or unknown)\n",
    );
  });

  it("agent state prints the reply as JSON", async () => {
    const sub = nc.subscribe(stateRequestSubject("PCS"), {
      callback: (_err, msg) => {
        msg.respond(JSON.stringify({ state: { connection: "connected" } }));
      },
    });
    await nc.flush();
    const r = await cli(url, "agent", "state", "PCS", "--json");
    sub.unsubscribe();
    expect(r.code).toBe(0);
    expect(jsonOut(r)).toEqual({ state: { connection: "connected" } });
  });
});

describe("agents", () => {
  let timer: NodeJS.Timeout | undefined;
  afterEach(() => clearInterval(timer));

  const beat = (pcId: string) =>
    nc.publish(
      heartbeatSubject(pcId),
      JSON.stringify(
        encodeHeartbeat({
          pcId,
          at: Date.now(),
          agentVersion: "0.5.0",
          agentCpuPct: 1.5,
          agentRssBytes: 50_000_000,
        }),
      ),
    );

  it("--json lists the PCs whose heartbeats arrived in the window", async () => {
    timer = setInterval(() => beat("PC-HB"), 100);
    const r = await cli(url, "agents", "--since", "1500ms", "--json");
    expect(r.code).toBe(0);
    const out = jsonOut<{ agents: { pc_id: string; heartbeat: Record<string, unknown> }[] }>(r);
    expect(out.agents.map((a) => a.pc_id)).toEqual(["PC-HB"]);
    expect(out.agents[0]?.heartbeat).toMatchObject({ agent_version: "0.5.0", agent_cpu_pct: 1.5 });
  });

  it("--watch redraws until Ctrl-C and then exits 0", async () => {
    timer = setInterval(() => beat("PC-W"), 100);
    const ctrlC = new AbortController();
    const run = startCli(["--nats", url, "agents", "--watch", "--since", "5s"], {
      signal: ctrlC.signal,
    });
    await waitFor(() => /^PC-W\s+0\.5\.0/m.test(run.stdout), { what: "PC-W in the live table" });
    ctrlC.abort();
    const r = await run.done;
    expect(r.code).toBe(0);
  });
});

describe("run", () => {
  /** A stand-in agent: answers every command on commands.pc.<pcId> with `answer(command)`. */
  function fakeAgent(
    pcId: string,
    answer: (c: Command) => Partial<ExecResult> | Promise<Partial<ExecResult>>,
  ) {
    const js = jetstream(nc);
    const seen: Command[] = [];
    const sub = nc.subscribe(commandsPc(pcId), {
      callback: (_err, msg) => {
        const parsed = parseJson(msg.data);
        const decoded = parsed.ok ? decodeCommand(parsed.value) : parsed;
        if (!decoded.ok) throw new Error(decoded.error.message);
        const c = decoded.value;
        seen.push(c);
        void (async () => {
          const result: ExecResult = {
            resultId: "00000000-0000-4000-8000-000000000001",
            requestId: c.requestId,
            pcId,
            exitCode: 0,
            stdout: "",
            stderr: "",
            startedAt: Date.now(),
            finishedAt: Date.now(),
            manifestId: c.id,
            ...(await answer(c)),
          };
          await js.publish(resultSubject(c.requestId), JSON.stringify(encodeExecResult(result)));
        })();
      },
    });
    return { seen, stop: () => sub.unsubscribe() };
  }

  it("prints stdout and stderr and exits with the script's exit code", async () => {
    const agent = fakeAgent("PC-RUN", (c) => ({
      exitCode: 7,
      stdout: `ran: ${c.script}\n`,
      stderr: "warning\n",
    }));
    await nc.flush();
    try {
      const r = await cli(
        url,
        "run",
        "PC-RUN",
        "--shell",
        "sh",
        "--timeout",
        "30s",
        "--",
        "echo",
        "hi",
      );
      expect(r).toEqual({ code: 7, stdout: "ran: echo hi\n", stderr: "warning\n" });
      const c = agent.seen[0];
      expect(c).toMatchObject({
        id: "adhoc-run",
        version: "0.0.0",
        shell: "sh",
        script: "echo hi",
        timeoutSecs: 30,
        execId: null,
      });
      expect(c?.requestId).toMatch(
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
    } finally {
      agent.stop();
    }
  });

  it("maps -1 (killed or timed out) to exit 1 and mints an exec_id on request", async () => {
    const agent = fakeAgent("PC-KILL", () => ({ exitCode: -1, stderr: "timeout after 1s" }));
    await nc.flush();
    try {
      const r = await cli(url, "run", "PC-KILL", "--exec-id", "--json", "--", "sleep 100");
      expect(r.code).toBe(1);
      expect(jsonOut(r)).toMatchObject({ exit_code: -1, stderr: "timeout after 1s" });
      expect(agent.seen[0]?.execId).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      agent.stop();
    }
  });

  it("prints output the agent moved to result_output", async () => {
    const big = "x".repeat(2000);
    const os = await new Objm(nc).open(OBJ_RESULT_OUTPUT);
    const agent = fakeAgent("PC-BIG", async (c) => {
      const key = resultOutputKey(c.requestId, "PC-BIG", "stdout");
      await os.putBlob({ name: key }, new TextEncoder().encode(big));
      return { stdout: "", stdoutObject: key };
    });
    await nc.flush();
    try {
      const r = await cli(url, "run", "PC-BIG", "--", "big");
      expect(r.stdout).toBe(big);
      expect(r.code).toBe(0);
    } finally {
      agent.stop();
    }
  });

  it("exits 119 when no result arrives within timeout + 10 s", async () => {
    const r = await cli(url, "run", "PC-NOBODY", "--timeout", "1s", "--", "true");
    expect(r.code).toBe(119);
    expect(r.stderr).toMatch(
      /^kanade: no result from PC-NOBODY within 11s \(request [0-9a-f-]{36}\)/,
    );
  }, 20_000);
});
