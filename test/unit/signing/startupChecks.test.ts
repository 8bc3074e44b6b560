import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { AgentConfig } from "../../../src/services/config/agentConfig.js";
import { ConfigError, loadAgentConfig } from "../../../src/services/config/index.js";
import { findWritableByOthers } from "../../../src/services/fs/permissions.js";
import { checkSecurityAtStart } from "../../../src/services/signing/index.js";
import { tempDir } from "../../helpers/tmp.js";
import { vector } from "./kit.js";

const posix = process.platform !== "win32";

function setUp(opts: { keys?: string; require?: boolean } = {}) {
  const dir = tempDir("kanade-startup-");
  const dataDir = join(dir, "data");
  mkdirSync(dataDir, { mode: 0o700 });
  const config: AgentConfig = {
    configFile: join(dir, "agent.toml"),
    pcId: "PC1",
    pcIdKvSafe: true,
    natsUrls: ["nats://127.0.0.1:4222"],
    dataDir,
    log: { path: join(dir, "agent.log"), level: "info", keepDays: 0 },
    nats: { auth: { mode: "none" } },
  };
  if (opts.keys !== undefined) {
    const keysDir = join(dir, "keys");
    mkdirSync(keysDir, { mode: 0o700 });
    const keysFile = join(keysDir, "keys.json");
    writeFileSync(keysFile, opts.keys, { mode: 0o600 });
    config.signing = { require: opts.require ?? true, keysFile };
  }
  return { dir, dataDir, config };
}

async function problem(config: AgentConfig): Promise<ConfigError> {
  try {
    await checkSecurityAtStart(config);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe.runIf(posix)("checkSecurityAtStart: local permissions", () => {
  it("passes an owner-only data dir and keys file", async () => {
    const { config } = setUp({ keys: JSON.stringify(vector.keys) });
    expect(await checkSecurityAtStart(config)).toEqual({ warnings: [] });
  });

  it("refuses a data dir writable by group or others, naming the path and the fix", async () => {
    const { config, dataDir } = setUp();
    chmodSync(dataDir, 0o770);
    const err = await problem(config);
    expect(err.key).toBe("agent.data_dir");
    expect(err.message).toContain(`data directory ${dataDir} is writable by group or others`);
    expect(err.message).toContain(`chmod go-w ${dataDir}`);
  });

  it("refuses a sub-folder others can write when the data dir is traversable", async () => {
    const { config, dataDir } = setUp();
    chmodSync(dataDir, 0o755);
    mkdirSync(join(dataDir, "scripts"));
    chmodSync(join(dataDir, "scripts"), 0o777);
    const err = await problem(config);
    expect(err.message).toContain(`chmod go-w ${join(dataDir, "scripts")}`);
  });

  it("warns (does not refuse) about a data dir others can read", async () => {
    const { config, dataDir } = setUp();
    chmodSync(dataDir, 0o755);
    const { warnings } = await checkSecurityAtStart(config);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`chmod go-rwx ${dataDir}`);
  });

  it("refuses a keys file, or its folder, writable by others", async () => {
    const { config } = setUp({ keys: JSON.stringify(vector.keys) });
    const keysFile = config.signing?.keysFile ?? "";
    chmodSync(keysFile, 0o666);
    expect((await problem(config)).message).toContain(`chmod go-w ${keysFile}`);
    chmodSync(keysFile, 0o600);
    chmodSync(join(keysFile, ".."), 0o777);
    const err = await problem(config);
    expect(err.key).toBe("signing.keys_file");
    expect(err.message).toContain("folder of the signing keys file");
  });

  it("skips paths that do not exist yet and quotes odd paths for the shell", async () => {
    const dir = tempDir("kanade-startup-");
    const odd = join(dir, "it's here");
    mkdirSync(odd);
    chmodSync(odd, 0o777);
    const found = await findWritableByOthers([
      { path: join(dir, "missing"), what: "x", key: "k" },
      { path: odd, what: "x", key: "k" },
    ]);
    expect(found?.message).toContain(`chmod go-w '${dir}/it'\\''s here'`);
    expect(await findWritableByOthers([{ path: odd, what: "x", key: "k" }], "win32")).toBeNull();
  });
});

describe("checkSecurityAtStart: keys file (behavior.md 17.1)", () => {
  it("refuses an invalid keys file with exit-2 material: file and problem", async () => {
    const { config } = setUp({ keys: '[{"kid":"a","public_key":"AAAA"}]' });
    const err = await problem(config);
    expect(err.key).toBe("signing.keys_file");
    expect(err.message).toMatch(/entry \[0\]: kid "a": public_key: holds 3 bytes/);
  });

  it("refuses an unreadable keys file", async () => {
    const { config } = setUp({ keys: "[]", require: false });
    if (config.signing) config.signing.keysFile = join(config.dataDir, "..", "nope.json");
    expect((await problem(config)).message).toMatch(/nope\.json: cannot read/);
  });

  it("refuses require = true with an empty keyring, accepts it in observe mode", async () => {
    expect((await problem(setUp({ keys: "[]" }).config)).message).toMatch(/holds no key/);
    await expect(
      checkSecurityAtStart(setUp({ keys: "[]", require: false }).config),
    ).resolves.toBeDefined();
  });

  it("never puts the keys file content in the message", async () => {
    const secretish = "Zm9vYmFyYmF6cXV4";
    const { config } = setUp({ keys: `[{"kid":"a","public_key":"${secretish}"}]` });
    expect((await problem(config)).message).not.toContain(secretish);
  });
});

describe("agent.toml [signing] require_envelope", () => {
  it("is read as a boolean and defaults to off", async () => {
    const dir = tempDir("kanade-startup-");
    const file = join(dir, "agent.toml");
    const base = '[agent]\nid = "PC1"\nnats_url = "nats://127.0.0.1:4222"\n[signing]\n';
    writeFileSync(file, `${base}keys_file = "k.json"\nrequire = true\nrequire_envelope = true\n`);
    const on = await loadAgentConfig(file, { env: {} });
    expect(on.config.signing).toEqual({
      require: true,
      keysFile: join(dir, "k.json"),
      requireEnvelope: true,
    });
    expect(on.warnings).toEqual([]);
    writeFileSync(file, `${base}require = false\n`);
    expect((await loadAgentConfig(file, { env: {} })).config.signing).toEqual({ require: false });
    writeFileSync(file, `${base}require_envelope = "yes"\n`);
    await expect(loadAgentConfig(file, { env: {} })).rejects.toThrow(
      /signing.require_envelope must be true or false/,
    );
  });
});
