import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { inspect } from "node:util";
import { type Authenticator, nkeys } from "@nats-io/nats-core";
import { describe, expect, it } from "vitest";
import {
  type AgentConfig,
  ConfigError,
  describeConfig,
  loadAgentConfig,
  maskUrlCredentials,
  toConnectionOptions,
} from "../../../src/services/config/index.js";
import { tempDir } from "../../helpers/tmp.js";
import { MINIMAL, NO_ENV, writeConfig } from "./configFiles.js";

const SECRET_TOKEN = "tok-3f9a-very-secret";
const SECRET_PASSWORD = "pw-77e1-very-secret";

/** A folder holding agent.toml with `[nats]` lines, plus any extra files. */
function setup(natsLines: string, files: Record<string, string> = {}) {
  const dir = tempDir();
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const file = writeConfig(`${MINIMAL}[nats]\n${natsLines}\n`, dir);
  return { dir, file };
}

const load = (file: string, env = NO_ENV) => loadAgentConfig(file, { env, platform: "linux" });

async function loadError(file: string, env = NO_ENV): Promise<ConfigError> {
  const err = await load(file, env).then(
    () => expect.fail("expected a ConfigError"),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  expect((err as ConfigError).message).toContain(file);
  return err as ConfigError;
}

function single(auth: Authenticator | Authenticator[] | undefined): Authenticator {
  if (auth === undefined || Array.isArray(auth)) return expect.fail("expected one authenticator");
  return auth;
}

function userSeed(): { seed: string; publicKey: string } {
  const kp = nkeys.createUser();
  return { seed: new TextDecoder().decode(kp.getSeed()), publicKey: kp.getPublicKey() };
}

const credsText = (seed: string) =>
  [
    "-----BEGIN NATS USER JWT-----",
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.c2ln",
    "------END NATS USER JWT------",
    "",
    "************************* IMPORTANT *************************",
    "",
    "-----BEGIN USER NKEY SEED-----",
    seed,
    "------END USER NKEY SEED------",
    "",
  ].join("\n");

describe("[nats] authentication modes", () => {
  it("reads a token file relative to the config folder, trimmed", async () => {
    const { dir, file } = setup('token_file = "secrets/token"');
    mkdirSync(join(dir, "secrets"));
    writeFileSync(join(dir, "secrets", "token"), `${SECRET_TOKEN}\n`);
    const { config } = await load(file);
    expect(config.nats.auth).toEqual({ mode: "token_file", file: join(dir, "secrets", "token") });
    const opts = await toConnectionOptions(config);
    expect(single(opts.authenticator)("nonce")).toEqual({ auth_token: SECRET_TOKEN });
  });

  it("uses $KANADE_NATS_TOKEN", async () => {
    const { config } = await load(writeConfig(MINIMAL), { KANADE_NATS_TOKEN: SECRET_TOKEN });
    const opts = await toConnectionOptions(config);
    expect(single(opts.authenticator)("nonce")).toEqual({ auth_token: SECRET_TOKEN });
  });

  it("uses user and password", async () => {
    const { file } = setup(`user = "agent"\npassword = "${SECRET_PASSWORD}"`);
    const { config } = await load(file);
    expect(config.nats.auth.mode).toBe("user_password");
    const opts = await toConnectionOptions(config);
    expect(single(opts.authenticator)("nonce")).toEqual({ user: "agent", pass: SECRET_PASSWORD });
  });

  it("accepts an empty password", async () => {
    const { file } = setup('user = "agent"\npassword = ""');
    const opts = await toConnectionOptions((await load(file)).config);
    expect(single(opts.authenticator)("n")).toEqual({ user: "agent", pass: "" });
  });

  it("signs the nonce with the seed of a creds file", async () => {
    const { seed, publicKey } = userSeed();
    const { dir, file } = setup('creds_file = "agent.creds"', { "agent.creds": credsText(seed) });
    const { config } = await load(file);
    expect(config.nats.auth).toEqual({ mode: "creds_file", file: join(dir, "agent.creds") });
    const auth = single((await toConnectionOptions(config)).authenticator)("nonce-1") as {
      jwt: string;
      nkey: string;
      sig: string;
    };
    expect(auth.jwt).toMatch(/^eyJ/);
    expect(auth.nkey).toBe(publicKey);
    expect(auth.sig.length).toBeGreaterThan(40);
  });

  it("signs the nonce with an nkey seed file", async () => {
    const { seed, publicKey } = userSeed();
    const { file } = setup('nkey_seed_file = "agent.nk"', { "agent.nk": `${seed}\n` });
    const auth = single((await toConnectionOptions((await load(file)).config)).authenticator)(
      "nonce-1",
    ) as { nkey: string; sig: string };
    expect(auth.nkey).toBe(publicKey);
    expect(auth.sig.length).toBeGreaterThan(40);
  });

  it("sends no credentials without any auth setting", async () => {
    const opts = await toConnectionOptions((await load(writeConfig(MINIMAL))).config);
    expect(opts.authenticator).toBeUndefined();
    expect(opts.tls).toBeUndefined();
  });
});

describe("[nats] contradictions are ConfigErrors naming the key", () => {
  it.each([
    ['user = "agent"', "nats.user", /nats\.user needs nats\.password/],
    ['password = "x"', "nats.password", /nats\.password needs nats\.user/],
    ['tls_cert = "c.pem"', "nats.tls_cert", /nats\.tls_cert needs nats\.tls_key/],
    ['tls_key = "c.key"', "nats.tls_key", /nats\.tls_key needs nats\.tls_cert/],
    [
      'token_file = "t"\ncreds_file = "c"',
      "nats.token_file",
      /nats\.token_file conflicts with nats\.creds_file: configure only one way/,
    ],
    [
      'user = "u"\npassword = "p"\nnkey_seed_file = "s"',
      "nats.user",
      /nats\.user conflicts with nats\.nkey_seed_file/,
    ],
    ['creds_file = ""', "nats.creds_file", /must not be empty/],
    ["tls_ca = 1", "nats.tls_ca", /must be a string/],
  ])("%s", async (lines, key, pattern) => {
    const e = await loadError(setup(lines).file);
    expect(e.key).toBe(key);
    expect(e.message).toMatch(pattern);
  });

  it("counts $KANADE_NATS_TOKEN as one of the ways to authenticate", async () => {
    const { file } = setup('creds_file = "agent.creds"');
    const e = await loadError(file, { KANADE_NATS_TOKEN: SECRET_TOKEN });
    expect(e.key).toBe("nats.creds_file");
    expect(e.message).toMatch(/conflicts with \$KANADE_NATS_TOKEN/);
    expect(e.message).not.toContain(SECRET_TOKEN);
  });
});

describe("secret files are read by toConnectionOptions, errors name key and file", () => {
  async function connectionError(config: AgentConfig): Promise<ConfigError> {
    const err = await toConnectionOptions(config).then(
      () => expect.fail("expected a ConfigError"),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain(config.configFile);
    return err as ConfigError;
  }

  it("names a missing token file", async () => {
    const { dir, file } = setup('token_file = "absent"');
    const e = await connectionError((await load(file)).config);
    expect(e.key).toBe("nats.token_file");
    expect(e.message).toMatch(
      new RegExp(`nats\\.token_file: cannot use ${join(dir, "absent")}: ENOENT`),
    );
  });

  it("refuses an empty token file", async () => {
    const { file } = setup('token_file = "t"', { t: "\n" });
    const e = await connectionError((await load(file)).config);
    expect(e.message).toMatch(/nats\.token_file: .*the file is empty/);
  });

  it("refuses an unparseable creds file without echoing it", async () => {
    const { file } = setup('creds_file = "bad.creds"', { "bad.creds": "not creds SECRETPART" });
    const e = await connectionError((await load(file)).config);
    expect(e.key).toBe("nats.creds_file");
    expect(e.message).toMatch(/bad\.creds is not a valid creds file/);
    expect(e.message).not.toContain("SECRETPART");
  });

  it("refuses a bad nkey seed without echoing it", async () => {
    const { file } = setup('nkey_seed_file = "s.nk"', { "s.nk": "SUNOTASEEDSECRETPART" });
    const e = await connectionError((await load(file)).config);
    expect(e.key).toBe("nats.nkey_seed_file");
    expect(e.message).toMatch(/s\.nk is not a valid nkey seed file/);
    expect(e.message).not.toContain("SECRETPART");
  });

  it("refuses an oversized secret file", async () => {
    const { file } = setup('token_file = "t"', { t: "x".repeat(64 * 1024 + 1) });
    const e = await connectionError((await load(file)).config);
    expect(e.message).toMatch(/larger than 65536 bytes/);
  });

  it("names an unreadable TLS file", async () => {
    const { dir, file } = setup('tls_ca = "ca.pem"');
    const e = await connectionError((await load(file)).config);
    expect(e.key).toBe("nats.tls_ca");
    expect(e.message).toContain(join(dir, "ca.pem"));
  });
});

describe("toConnectionOptions (behavior.md 2.1)", () => {
  it("sets the client settings of the spec", async () => {
    const file = writeConfig('[agent]\nid = "pc1.corp"\nnats_url = ["nats://a:1", "nats://b:2"]\n');
    const opts = await toConnectionOptions((await load(file)).config);
    expect(opts).toMatchObject({
      servers: ["nats://a:1", "nats://b:2"],
      name: "kanade-agent-pc1.corp",
      maxReconnectAttempts: -1,
      waitOnFirstConnect: true,
      timeout: 5000,
      reconnectTimeWait: 3400,
      reconnectJitter: 600,
      pingInterval: 30000,
      maxPingOut: 2,
      ignoreAuthErrorAbort: true,
      noAsyncTraces: true,
    });
  });

  it("takes a connection name from the caller", async () => {
    const opts = await toConnectionOptions((await load(writeConfig(MINIMAL))).config, {
      name: "kanade-cli",
    });
    expect(opts.name).toBe("kanade-cli");
  });

  it("passes TLS files resolved against the config folder", async () => {
    const { dir, file } = setup('tls_ca = "ca.pem"\ntls_cert = "c.pem"\ntls_key = "c.key"', {
      "ca.pem": "ca",
      "c.pem": "cert",
      "c.key": "key",
    });
    const opts = await toConnectionOptions((await load(file)).config);
    expect(opts.tls).toEqual({
      caFile: join(dir, "ca.pem"),
      certFile: join(dir, "c.pem"),
      keyFile: join(dir, "c.key"),
    });
  });

  it("accepts a CA alone (server verification without a client certificate)", async () => {
    const { dir, file } = setup('tls_ca = "ca.pem"', { "ca.pem": "ca" });
    expect((await toConnectionOptions((await load(file)).config)).tls).toEqual({
      caFile: join(dir, "ca.pem"),
    });
  });
});

describe("describeConfig and secrets in logs (behavior.md 20.2)", () => {
  it("masks credentials in URLs", () => {
    expect(maskUrlCredentials("nats://user:pass@host:4222")).toBe("nats://***@host:4222");
    expect(maskUrlCredentials("tls://tok@host")).toBe("tls://***@host");
    expect(maskUrlCredentials("u:p@host:4222")).toBe("***@host:4222");
    expect(maskUrlCredentials("nats://host:4222")).toBe("nats://host:4222");
    expect(maskUrlCredentials("nats://host:4222/x@y")).toBe("nats://host:4222/x@y");
  });

  it("gives a log-safe summary", async () => {
    const { file } = setup(`user = "agent"\npassword = "${SECRET_PASSWORD}"\ntls_ca = "/ca.pem"`);
    const text = readFileSync(file, "utf8").replace(
      'nats_url = "nats://127.0.0.1:4222"',
      `nats_url = ["nats://admin:${SECRET_PASSWORD}@a:4222", "nats://b:4222"]`,
    );
    writeFileSync(file, text);
    const { config } = await load(file);
    expect(describeConfig(config)).toEqual({
      config_file: file,
      pc_id: "PC1",
      pc_id_kv_safe: true,
      nats_urls: ["nats://***@a:4222", "nats://b:4222"],
      data_dir: "/var/lib/kanade",
      log_path: "/var/log/kanade/agent.log",
      log_level: "info",
      log_keep_days: 14,
      auth: "user_password",
      tls: true,
      signing: "off",
    });
  });

  it("names the signing mode and tls off", async () => {
    const observe = await load(writeConfig(`${MINIMAL}[signing]\nkeys_file = "/k"\n`));
    expect(describeConfig(observe.config)).toMatchObject({
      signing: "observe",
      tls: false,
      auth: "none",
    });
    const enforce = await load(
      writeConfig(`${MINIMAL}[signing]\nrequire = true\nkeys_file = "/k"\n`),
    );
    expect(describeConfig(enforce.config).signing).toBe("enforce");
  });

  it("never shows the token or password when the whole config is logged", async () => {
    const withToken = await load(writeConfig(MINIMAL), { KANADE_NATS_TOKEN: SECRET_TOKEN });
    const { file } = setup(`user = "agent"\npassword = "${SECRET_PASSWORD}"`);
    const withPassword = await load(file);
    for (const { config } of [withToken, withPassword]) {
      for (const text of [
        JSON.stringify(config),
        JSON.stringify(describeConfig(config)),
        inspect(config, { depth: 10 }),
        String(config.nats.auth.mode === "none" ? "" : Object.values(config.nats.auth).join(" ")),
      ]) {
        expect(text).not.toContain(SECRET_TOKEN);
        expect(text).not.toContain(SECRET_PASSWORD);
      }
    }
    expect(JSON.stringify(withToken.config)).toContain("[redacted]");
  });
});
