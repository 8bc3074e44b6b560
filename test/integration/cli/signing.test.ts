// Signing in the operator CLI (issue 9): `kanade keys generate` and `kanade run --key [--envelope]`
// against the real agent enforcing signatures (behavior.md §17).
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bootstrapKanade } from "../../../src/services/nats/resources.js";
import { ed25519Sign, ed25519Verify } from "../../../src/services/signing/ed25519.js";
import { parseKeyring, parsePrivateKeyFile } from "../../../src/services/signing/index.js";
import { AgentProcess, ensureAgentBuilt } from "../../helpers/agentProcess.js";
import { NatsServer } from "../../helpers/natsServer.js";
import { tempDir } from "../../helpers/tmp.js";
import { type CliRun, startCli } from "./cliHarness.js";

const KID = "ops-test";
const SCRIPT = "echo signed-out; exit 7";

describe("kanade keys generate and kanade run --key against enforcing agents", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let dir: string;
  let keyFile: string;
  let keysFile: string;
  let generated: CliRun;
  /** `[signing] require = true`. */
  let enforcing: AgentProcess;
  /** `require = true` and `require_envelope = true`. */
  let envelopeOnly: AgentProcess;
  const cli = (...args: string[]) => startCli(["--nats", server.url, ...args]).done;
  const run = (agent: AgentProcess, ...opts: string[]) =>
    cli("run", agent.pcId, "--shell", "sh", "--timeout", "10s", ...opts, "--", SCRIPT);

  beforeAll(async () => {
    await ensureAgentBuilt();
    server = await NatsServer.start();
    nc = await connect({ servers: server.url });
    await bootstrapKanade(nc, { resultOutput: true });
    dir = tempDir("kanade-cli-signing-");
    keyFile = join(dir, "ops.key");
    keysFile = join(dir, "keys.json");
    // The agents trust exactly what `keys generate --keys-file` wrote.
    generated = await startCli([
      "--json",
      "keys",
      "generate",
      "--kid",
      KID,
      "--out",
      keyFile,
      "--keys-file",
      keysFile,
      "--label",
      "ci",
    ]).done;
    if (generated.code !== 0) throw new Error(`keys generate failed: ${generated.stderr}`);
    const signing = (envelope: boolean) =>
      `[signing]\nrequire = true\nkeys_file = ${JSON.stringify(keysFile)}\n${
        envelope ? "require_envelope = true\n" : ""
      }`;
    [enforcing, envelopeOnly] = await Promise.all([
      AgentProcess.start({ natsUrl: server.url, extraToml: signing(false) }),
      AgentProcess.start({ natsUrl: server.url, extraToml: signing(true) }),
    ]);
    await Promise.all(
      [enforcing, envelopeOnly].map((a) => a.waitForLog({ msg: "replay consumer ready" }, 20_000)),
    );
  }, 40_000);

  afterAll(async () => {
    await Promise.all([enforcing?.stop().catch(() => {}), envelopeOnly?.stop().catch(() => {})]);
    await nc?.close();
    await server?.stop();
  });

  it("keys generate writes an owner-only private key and a keyring entry the agent accepts", () => {
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const key = parsePrivateKeyFile(readFileSync(keyFile, "utf8"));
    expect(key.kid).toBe(KID);

    const out = JSON.parse(generated.stdout.trim()) as {
      entry: { kid: string; public_key: string; label: string };
      key_file: string;
      keys_file: string;
      keys_file_change: string;
    };
    expect(out).toMatchObject({
      key_file: keyFile,
      keys_file: keysFile,
      keys_file_change: "added",
    });
    expect(out.entry).toMatchObject({ kid: KID, label: "ci" });

    // The printed entry, and the keys file, hold the public half of the private key.
    const keyring = parseKeyring(readFileSync(keysFile), keysFile);
    expect(keyring.kids).toEqual([KID]);
    const printed = parseKeyring(JSON.stringify([out.entry]), "stdout");
    const data = new TextEncoder().encode("probe");
    const sig = ed25519Sign(data, key.seed);
    expect(ed25519Verify(data, sig, keyring.get(KID)!.key)).toBe(true);
    expect(ed25519Verify(data, sig, printed.get(KID)!.key)).toBe(true);
  });

  it("keys generate refuses to overwrite a key without --force and merges into an existing keys file", async () => {
    const scratch = tempDir("kanade-cli-keys-");
    const out = join(scratch, "a.key");
    const keys = join(scratch, "keys.json");
    writeFileSync(keys, JSON.stringify([{ kid: "other", public_key: `${"A".repeat(43)}=` }]));

    const first = await startCli([
      "keys",
      "generate",
      "--kid",
      "k1",
      "--out",
      out,
      "--keys-file",
      keys,
    ]).done;
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout.trim())).toMatchObject({ kid: "k1" });
    const before = readFileSync(out, "utf8");

    const again = await startCli([
      "keys",
      "generate",
      "--kid",
      "k1",
      "--out",
      out,
      "--keys-file",
      keys,
    ]).done;
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists.*--force/);
    expect(readFileSync(out, "utf8")).toBe(before);

    const forced = await startCli([
      "--json",
      "keys",
      "generate",
      "--kid",
      "k1",
      "--out",
      out,
      "--keys-file",
      keys,
      "--force",
    ]).done;
    expect(forced.code).toBe(0);
    expect(JSON.parse(forced.stdout.trim()).keys_file_change).toBe("replaced");
    expect(readFileSync(out, "utf8")).not.toBe(before);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    // One entry per kid, the other key kept, still a keyring an agent loads.
    const keyring = parseKeyring(readFileSync(keys), keys);
    expect(keyring.kids).toEqual(["other", "k1"]);
    const key = parsePrivateKeyFile(readFileSync(out, "utf8"));
    const data = new TextEncoder().encode("probe");
    expect(ed25519Verify(data, ed25519Sign(data, key.seed), keyring.get("k1")!.key)).toBe(true);
  });

  it("run --key: the enforcing agent runs the command and the CLI exits with the script's code", async () => {
    const r = await run(enforcing, "--key", keyFile);
    expect(r.stdout).toContain("signed-out");
    expect(r.code).toBe(7);
  }, 20_000);

  it("run without --key is refused by the enforcing agent with exit 123", async () => {
    const r = await run(enforcing);
    expect(r.code).toBe(123);
    expect(r.stderr).toContain("refused: command signature unsigned");
    expect(r.stdout).not.toContain("signed-out");
  }, 20_000);

  it("run --key with a key the agent does not trust is refused as unknown key", async () => {
    const stranger = join(dir, "stranger.key");
    expect(
      (await startCli(["keys", "generate", "--kid", "stranger", "--out", stranger]).done).code,
    ).toBe(0);
    const r = await run(enforcing, "--key", stranger);
    expect(r.code).toBe(123);
    expect(r.stderr).toContain("refused: command signature unknown key stranger");
  }, 20_000);

  it("run --key --envelope runs on both agents; require_envelope refuses a legacy signature", async () => {
    const viaEnvelope = await run(enforcing, "--key", keyFile, "--envelope", "--expires", "2m");
    expect(viaEnvelope.code).toBe(7);
    expect(viaEnvelope.stdout).toContain("signed-out");

    const legacy = await run(envelopeOnly, "--key", keyFile);
    expect(legacy.code).toBe(123);
    expect(legacy.stderr).toContain("refused: command signature envelope required");

    const envelope = await run(envelopeOnly, "--key", keyFile, "--envelope");
    expect(envelope.code).toBe(7);
    expect(envelope.stdout).toContain("signed-out");
  }, 30_000);

  it("signing options that cannot work are usage errors, before anything is sent", async () => {
    const noKey = await run(enforcing, "--envelope");
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain("--envelope needs --key");
    const noEnvelope = await run(enforcing, "--key", keyFile, "--expires", "5m");
    expect(noEnvelope.code).toBe(2);
    const badKey = await run(enforcing, "--key", join(dir, "missing.key"));
    expect(badKey.code).toBe(1);
    expect(badKey.stderr).toContain("missing.key");
  });

  it("--help documents the signing options", async () => {
    const runHelp = await startCli(["run", "--help"]).done;
    for (const flag of ["--key <file>", "--envelope", "--expires <duration>"]) {
      expect(runHelp.stdout).toContain(flag);
    }
    const keysHelp = await startCli(["keys", "generate", "--help"]).done;
    for (const flag of ["--kid <id>", "--out <file>", "--keys-file <file>", "--force"]) {
      expect(keysHelp.stdout).toContain(flag);
    }
  });
});
