// The installed entry point `node bin/kanade.js` as a child process: exit codes, one-line
// errors, and a whole `kanade run` round trip against a stand-in agent.
import { createServer } from "node:net";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { commandsPc, resultSubject } from "../../../src/services/nats/subjects.js";
import { decodeCommand, encodeExecResult, parseJson } from "../../../src/services/wire/index.js";
import { AGENT_VERSION } from "../../../src/version.js";
import { NatsServer } from "../../helpers/natsServer.js";
import { collect } from "../../helpers/waitFor.js";
import { cliProcess, ensureCliBuilt, spawnCli } from "./cliHarness.js";

let server: NatsServer;
let nc: NatsConnection;

beforeAll(async () => {
  await ensureCliBuilt();
  server = await NatsServer.start();
  nc = await connect({ servers: server.url });
}, 200_000);

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

describe("kanade as a process", () => {
  it("prints its version and help", async () => {
    expect(await cliProcess(["--version"])).toMatchObject({
      code: 0,
      stdout: `${AGENT_VERSION}\n`,
    });
    const help = await cliProcess(["run", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("--exec-id");
    expect(help.stdout).toContain("119 when no result arrived");
  });

  it("exits 2 on a usage error, with one line and no stack", async () => {
    const r = await cliProcess(["agent", "groups", "add"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^kanade: missing required argument 'pc_id' \(see --help\)\n$/);
    const bare = await cliProcess([]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain("Usage: kanade");
  });

  it("exits 3 with one line when it cannot connect", async () => {
    const port = await closedPort();
    const r = await cliProcess(["revoke", "x"], { KANADE_NATS_URL: `nats://127.0.0.1:${port}` });
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(
      `kanade: cannot connect to nats://127.0.0.1:${port}: connection refused\n`,
    );
    expect(r.stdout).toBe("");
  });

  it("jetstream setup twice succeeds and reports the second run as a no-op", async () => {
    const env = { KANADE_NATS_URL: server.url };
    const first = await cliProcess(["jetstream", "setup", "--no-result-output", "--json"], env);
    expect(first.code).toBe(0);
    const created = JSON.parse(first.stdout) as { created: string[] };
    expect(created.created).toContain("stream EXEC");
    expect(created.created).not.toContain("object store result_output");
    const second = await cliProcess(["jetstream", "setup", "--no-result-output", "--json"], env);
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ created: [] });
  });

  it("run ends on Ctrl-C with 130 and says the command may still run", async () => {
    const commands = collect(nc, commandsPc("PC-CTRLC"));
    await nc.flush();
    const child = spawnCli([
      "--nats",
      server.url,
      "run",
      "PC-CTRLC",
      "--exec-id",
      "x-1",
      "--",
      "sleep 60",
    ]);
    try {
      // Sent means the CLI is now waiting for the result.
      await commands.waitForCount(1);
      child.process.kill("SIGINT");
      const r = await child.done;
      expect(r.code).toBe(130);
      expect(r.stderr).toMatch(
        /^kanade: interrupted; request \S+ was sent and may still run on PC-CTRLC \(stop it with: kanade kill x-1\)\n$/,
      );
    } finally {
      commands.stop();
      child.process.kill("SIGKILL");
    }
  });

  it("run prints the result and passes the exit code through", async () => {
    const js = jetstream(nc);
    const sub = nc.subscribe(commandsPc("PC-PROC"), {
      callback: (_err, msg) => {
        const parsed = parseJson(msg.data);
        const decoded = parsed.ok ? decodeCommand(parsed.value) : parsed;
        if (!decoded.ok) return;
        const c = decoded.value;
        const now = Date.now();
        void js.publish(
          resultSubject(c.requestId),
          JSON.stringify(
            encodeExecResult({
              resultId: "00000000-0000-4000-8000-000000000002",
              requestId: c.requestId,
              pcId: "PC-PROC",
              exitCode: 42,
              stdout: `${c.shell}: ${c.script}\n`,
              stderr: "on stderr\n",
              startedAt: now,
              finishedAt: now,
              manifestId: c.id,
            }),
          ),
        );
      },
    });
    await nc.flush();
    try {
      const r = await cliProcess([
        "--nats",
        server.url,
        "run",
        "PC-PROC",
        "--shell",
        "pwsh",
        "--",
        "Get-Date",
      ]);
      expect(r).toEqual({ code: 42, stdout: "pwsh: Get-Date\n", stderr: "on stderr\n" });
    } finally {
      sub.unsubscribe();
    }
  });
});
