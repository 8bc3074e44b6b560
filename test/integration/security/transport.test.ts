import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect, type NodeConnectionOptions } from "@nats-io/transport-node";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { bootstrapKanade } from "../../../src/services/nats/resources.js";
import { commandsPc, pingSubject } from "../../../src/services/nats/subjects.js";
import { encodeCommand } from "../../../src/services/wire/index.js";
import { AgentProcess, ensureAgentBuilt } from "../../helpers/agentProcess.js";
import type { WireResult } from "../../helpers/agentScenario.js";
import { NatsServer } from "../../helpers/natsServer.js";
import { tempDir } from "../../helpers/tmp.js";
import { collect, waitFor } from "../../helpers/waitFor.js";
import { decentralized, makePki, nkeyUser, type Pki, secret, serverTls } from "./transportKit.js";

let server: NatsServer | undefined;
const agents: AgentProcess[] = [];
const clients: NatsConnection[] = [];
afterEach(async () => {
  for (const a of agents.splice(0)) await a.kill();
  for (const nc of clients.splice(0)) await nc.close().catch(() => {});
  await server?.stop();
  server = undefined;
});
beforeAll(async () => {
  await ensureAgentBuilt();
});

async function startServer(config: string, jetstream = false): Promise<NatsServer> {
  server = await NatsServer.start({ config, jetstream });
  return server;
}

async function client(opts: Partial<NodeConnectionOptions>): Promise<NatsConnection> {
  if (!server) throw new Error("no server");
  const nc = await connect({ servers: server.url, timeout: 5_000, reconnect: false, ...opts });
  clients.push(nc);
  return nc;
}

async function startAgent(opts: {
  nats?: string;
  env?: Record<string, string>;
  url?: string;
}): Promise<AgentProcess> {
  if (!server) throw new Error("no server");
  const agent = new AgentProcess({
    natsUrl: opts.url ?? server.url,
    log: { level: "debug" },
    extraToml: opts.nats === undefined ? undefined : `[nats]\n${opts.nats}`,
    env: opts.env,
  });
  agents.push(agent);
  await agent.start();
  return agent;
}

/** The agent is connected: it logged so and answers a ping from `nc` (both directions work). */
async function expectConnected(agent: AgentProcess, nc: NatsConnection): Promise<void> {
  await agent.waitForLog({ msg: "connected" }, 10_000);
  let reply: { pc_id?: string } | undefined;
  await waitFor(
    async () => {
      reply = (await nc.request(pingSubject(agent.pcId), "", { timeout: 500 })).json();
      return true;
    },
    { timeoutMs: 10_000, what: `a ping reply from ${agent.pcId}` },
  );
  expect(reply?.pc_id).toBe(agent.pcId);
}

/** The agent stays up and keeps trying: the server saw `attempts` failed connections from it. */
async function expectRetrying(agent: AgentProcess, failure: RegExp, attempts = 2): Promise<void> {
  const from = server?.logLines.length ?? 0;
  await waitFor(
    () => (server?.logLines.slice(from).filter((l) => failure.test(l)).length ?? 0) >= attempts,
    { timeoutMs: 15_000, what: `${attempts} failed connection attempts matching ${failure}` },
  );
  expect(agent.running).toBe(true);
  expect(agent.logs.some((l) => l.json?.msg === "connected")).toBe(false);
}

const output = (agent: AgentProcess): string => agent.logs.map((l) => l.text).join("\n");
const writeSecret = (name: string, text: string): string => {
  const file = join(tempDir("kanade-secret-"), name);
  writeFileSync(file, `${text}\n`, { mode: 0o600 });
  return file;
};

describe("authentication modes ([nats] table, behavior.md 1.7)", () => {
  it("token from $KANADE_NATS_TOKEN: runs commands; the token is in no log line and no child's env", async () => {
    const token = secret("tok");
    await startServer(`authorization { token: "${token}" }\n`, true);
    const backend = await client({ token });
    await bootstrapKanade(backend, { resultOutput: false });
    const results = collect<WireResult>(backend, "results.>");
    const agent = await startAgent({ env: { KANADE_NATS_TOKEN: token } });
    await agent.waitForLog({ msg: "replay consumer ready" }, 15_000);

    const requestId = `req-${randomUUID()}`;
    const cmd = {
      id: "env-dump",
      version: "1",
      requestId,
      execId: null,
      shell: "sh" as const,
      script: "env",
      timeoutSecs: 10,
      jitterSecs: null,
      runAs: "system" as const,
      staleness: { mode: "cached" as const },
    };
    backend.publish(commandsPc(agent.pcId), JSON.stringify(encodeCommand(cmd)));
    const r = await results.waitForMatch((m) => m.data.request_id === requestId);
    expect(r.data.exit_code).toBe(0);
    expect(r.data.stdout).toMatch(/^PATH=/m);
    expect(r.data.stdout).not.toContain(token);
    expect(r.data.stdout).not.toContain("KANADE_NATS_TOKEN");
    expect(output(agent)).not.toContain(token);
    expect(agent.logs.find((l) => l.json?.msg === "kanade-agent started")?.json?.auth).toBe(
      "token",
    );
  });

  it("token file", async () => {
    const token = secret("tokfile");
    await startServer(`authorization { token: "${token}" }\n`);
    const agent = await startAgent({ nats: `token_file = "${writeSecret("token", token)}"` });
    await expectConnected(agent, await client({ token }));
    expect(output(agent)).not.toContain(token);
  });

  it("user and password; a wrong password keeps the agent up and retrying", async () => {
    const password = secret("pw");
    await startServer(
      `authorization { users = [ { user: agent, password: "${password}" }, { user: probe, password: "p" } ] }\n`,
    );
    const probe = await client({ user: "probe", pass: "p" });
    const good = await startAgent({ nats: `user = "agent"\npassword = "${password}"` });
    await expectConnected(good, probe);
    expect(output(good)).not.toContain(password);

    const wrong = `${password}-wrong`;
    const bad = await startAgent({ nats: `user = "agent"\npassword = "${wrong}"` });
    await expectRetrying(bad, /authentication error/);
    expect(output(bad)).not.toContain(wrong);
  });

  it("nkey seed file", async () => {
    const agentKey = nkeyUser();
    const probeKey = nkeyUser();
    await startServer(
      `authorization { users = [ { nkey: ${agentKey.publicKey} }, { nkey: ${probeKey.publicKey} } ] }\n`,
    );
    const { nkeyAuthenticator } = await import("@nats-io/nats-core");
    const probe = await client({
      authenticator: nkeyAuthenticator(new TextEncoder().encode(probeKey.seed)),
    });
    const agent = await startAgent({
      nats: `nkey_seed_file = "${writeSecret("agent.nk", agentKey.seed)}"`,
    });
    await expectConnected(agent, probe);
    expect(output(agent)).not.toContain(agentKey.seed);
  });

  it("creds file of a decentralized (operator/account/user JWT) setup", async () => {
    const setup = decentralized();
    await startServer(setup.serverConfig);
    const { credsAuthenticator } = await import("@nats-io/nats-core");
    const { readFileSync } = await import("node:fs");
    const probe = await client({
      authenticator: credsAuthenticator(readFileSync(setup.userCreds("probe"))),
    });
    const creds = setup.userCreds("agent");
    const agent = await startAgent({ nats: `creds_file = "${creds}"` });
    await expectConnected(agent, probe);
    const seed = /SU[A-Z0-9]{56}/.exec(readFileSync(creds, "utf8"))?.[0] ?? "missing";
    expect(output(agent)).not.toContain(seed);
  });
});

describe("TLS ([nats] tls_ca, tls_cert, tls_key)", () => {
  let pki: Pki;
  beforeAll(() => {
    pki = makePki();
  });
  const tlsUrl = () => `tls://127.0.0.1:${server?.port}`;
  const clientTls = () => ({
    tls: { caFile: pki.ca, certFile: pki.clientCert, keyFile: pki.clientKey },
  });

  it("verifies the server against tls_ca", async () => {
    await startServer(serverTls(pki, false));
    const agent = await startAgent({ url: tlsUrl(), nats: `tls_ca = "${pki.ca}"` });
    await expectConnected(agent, await client({ tls: { caFile: pki.ca } }));
  });

  it("mutual TLS: the server demands a client certificate (verify: true)", async () => {
    await startServer(serverTls(pki, true));
    const agent = await startAgent({
      url: tlsUrl(),
      nats: `tls_ca = "${pki.ca}"\ntls_cert = "${pki.clientCert}"\ntls_key = "${pki.clientKey}"`,
    });
    await expectConnected(agent, await client(clientTls()));
  });

  it("a server certificate from another CA: the agent stays up and keeps retrying", async () => {
    await startServer(serverTls(pki, false));
    const agent = await startAgent({ url: tlsUrl(), nats: `tls_ca = "${pki.otherCa}"` });
    await expectRetrying(agent, /TLS handshake error/);
  });

  it("no client certificate where one is required: the agent stays up and keeps retrying", async () => {
    await startServer(serverTls(pki, true));
    const agent = await startAgent({ url: tlsUrl(), nats: `tls_ca = "${pki.ca}"` });
    await expectRetrying(agent, /TLS handshake error/);
  });

  it("logs a clear line naming the TLS failure while it retries", async () => {
    await startServer(serverTls(pki, false));
    const agent = await startAgent({ url: tlsUrl(), nats: `tls_ca = "${pki.otherCa}"` });
    const line = await agent.waitForLog(
      { msg: /^cannot connect to NATS: .*(certificate|verify).*\(still retrying\)$/ },
      20_000,
    );
    expect(line.json?.level).toBe("error");
    expect(agent.running).toBe(true);
  });
});
