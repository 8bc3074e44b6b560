// toConnectionOptions against a real nats-server: the options it builds authenticate for real,
// and an authorization failure does not stop the agent from reconnecting (behavior.md 2.1).

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { nkeys } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import { loadAgentConfig, toConnectionOptions } from "../../../src/services/config/index.js";
import { NatsServer, type NatsServerOptions } from "../../helpers/natsServer.js";
import { tempDir } from "../../helpers/tmp.js";
import { waitFor, withTimeout } from "../../helpers/waitFor.js";
import { writeConfig } from "./configFiles.js";

const TOKEN = "s3cret-token-for-test";
const servers: NatsServer[] = [];

async function startServer(opts: NatsServerOptions = {}): Promise<NatsServer> {
  const server = await NatsServer.start(opts);
  servers.push(server);
  return server;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function optionsFor(url: string, env: Record<string, string>, nats = "") {
  const dir = tempDir();
  const file = writeConfig(`[agent]\nid = "PC.conn"\nnats_url = "${url}"\n${nats}`, dir);
  const { config } = await loadAgentConfig(file, { env, platform: "linux" });
  return { options: await toConnectionOptions(config), dir };
}

describe("toConnectionOptions against nats-server", () => {
  it("connects with the token from $KANADE_NATS_TOKEN and names the connection", async () => {
    const server = await startServer({ args: ["--auth", TOKEN] });
    const { options } = await optionsFor(server.url, { KANADE_NATS_TOKEN: TOKEN });
    const nc = await withTimeout(connect(options), 10_000, "connect with the right token");
    try {
      // A round trip proves the server accepted the session, not just the TCP connection.
      const sub = nc.subscribe("probe.x", { max: 1 });
      nc.publish("probe.x", "hi");
      for await (const m of sub) expect(m.string()).toBe("hi");
      expect(nc.info?.client_id).toBeGreaterThan(0);
      expect(nc.getServer()).toContain(String(server.port));
    } finally {
      await nc.close();
    }
  });

  it("is refused with a wrong token", async () => {
    const server = await startServer({ args: ["--auth", TOKEN] });
    const { options } = await optionsFor(server.url, { KANADE_NATS_TOKEN: "wrong-token" });
    // One attempt only, so the refusal surfaces as an error instead of a retry.
    await expect(
      connect({ ...options, waitOnFirstConnect: false, maxReconnectAttempts: 0 }),
    ).rejects.toThrow(/Authorization Violation/i);
  });

  it("keeps retrying after an authorization error until the broker lets it in", async () => {
    const locked = await startServer({ args: ["--auth", TOKEN] });
    const { options } = await optionsFor(locked.url, { KANADE_NATS_TOKEN: "wrong-token" });
    const pending = connect(options);
    // nats.js gives up on the second consecutive auth error unless told not to, so wait for two.
    const refusals = () => locked.logLines.filter((l) => /authentication error/i.test(l)).length;
    await waitFor(() => refusals() >= 2, { timeoutMs: 10_000, what: "two refused attempts" });
    // Same port, no auth: the agent's next attempt must get in without any help.
    const port = locked.port;
    await locked.stop();
    await startServer({ port });
    const nc = await withTimeout(pending, 15_000, "reconnect after the auth error");
    await nc.flush();
    await nc.close();
  });

  it("connects with user and password, and with an nkey seed file", async () => {
    const kp = nkeys.createUser();
    const seedDir = tempDir();
    writeFileSync(join(seedDir, "agent.nk"), new TextDecoder().decode(kp.getSeed()));
    const secured = await startServer({
      config: `authorization { users = [ { user: "agent", password: "pw1" }, { nkey: "${kp.getPublicKey()}" } ] }`,
    });

    const userPass = await optionsFor(
      secured.url,
      {},
      '[nats]\nuser = "agent"\npassword = "pw1"\n',
    );
    const nc1 = await withTimeout(connect(userPass.options), 10_000, "connect with user/password");
    await nc1.flush();
    await nc1.close();

    const nkey = await optionsFor(
      secured.url,
      {},
      `[nats]\nnkey_seed_file = "${join(seedDir, "agent.nk")}"\n`,
    );
    const nc2 = await withTimeout(connect(nkey.options), 10_000, "connect with an nkey seed");
    await nc2.flush();
    await nc2.close();

    const wrong = await optionsFor(secured.url, {}, '[nats]\nuser = "agent"\npassword = "nope"\n');
    await expect(
      connect({ ...wrong.options, waitOnFirstConnect: false, maxReconnectAttempts: 0 }),
    ).rejects.toThrow(/Authorization Violation/i);
  });
});
