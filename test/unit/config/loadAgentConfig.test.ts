import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  type AgentConfig,
  ConfigError,
  loadAgentConfig,
} from "../../../src/services/config/index.js";
import { tempDir } from "../../helpers/tmp.js";
import { MINIMAL, NO_ENV, writeConfig } from "./configFiles.js";

const load = (file: string, env = NO_ENV, platform: NodeJS.Platform = "linux") =>
  loadAgentConfig(file, { env, platform, hostname: "host-a" });

/** Loads `text` and returns the ConfigError it must raise. */
async function errorOf(text: string, env = NO_ENV): Promise<ConfigError & { path: string }> {
  const file = writeConfig(text);
  try {
    await load(file, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    const e = err as ConfigError;
    expect(e.file).toBe(file);
    expect(e.message.startsWith(`${file}`)).toBe(true);
    expect(e.message).not.toContain("\n");
    return Object.assign(e, { path: file });
  }
  return expect.fail(`expected a ConfigError for:\n${text}`);
}

describe("loadAgentConfig: required keys and defaults (behavior.md 1.4)", () => {
  it("loads a minimal file with the Linux defaults and no warnings", async () => {
    const file = writeConfig(MINIMAL);
    const { config, warnings } = await load(file);
    expect(warnings).toEqual([]);
    expect(config).toEqual<AgentConfig>({
      configFile: file,
      pcId: "PC1",
      pcIdKvSafe: true,
      natsUrls: ["nats://127.0.0.1:4222"],
      dataDir: "/var/lib/kanade",
      log: { path: "/var/log/kanade/agent.log", level: "info", keepDays: 14 },
      nats: { auth: { mode: "none" } },
    });
  });

  it("uses the Windows defaults under %ProgramData%", async () => {
    const file = writeConfig(MINIMAL);
    const { config } = await load(file, { ProgramData: "D:\\PD" }, "win32");
    expect(config.dataDir).toBe("D:\\PD\\Kanade\\data");
    expect(config.log.path).toBe("D:\\PD\\Kanade\\logs\\agent.log");
    const { config: fallback } = await load(file, NO_ENV, "win32");
    expect(fallback.dataDir).toBe("C:\\ProgramData\\Kanade\\data");
    expect(fallback.log.path).toBe("C:\\ProgramData\\Kanade\\logs\\agent.log");
  });

  it("reads every documented key", async () => {
    const dir = tempDir();
    const file = writeConfig(
      `[agent]
id = "pc1.corp.local"
nats_url = ["nats://a:4222", "nats://b:4222"]
data_dir = "/srv/kanade"

[log]
path = "/srv/log/agent.log"
level = "debug"
keep_days = 0

[signing]
require = true
keys_file = "/srv/keys.json"
`,
      dir,
    );
    const { config, warnings } = await load(file);
    expect(warnings).toEqual([]);
    expect(config.pcId).toBe("pc1.corp.local");
    expect(config.natsUrls).toEqual(["nats://a:4222", "nats://b:4222"]);
    expect(config.dataDir).toBe("/srv/kanade");
    expect(config.log).toEqual({ path: "/srv/log/agent.log", level: "debug", keepDays: 0 });
    expect(config.signing).toEqual({ require: true, keysFile: "/srv/keys.json" });
  });

  it("preserves the case of the pc_id", async () => {
    const { config } = await load(writeConfig(MINIMAL.replace("PC1", "MixedCase-Pc")));
    expect(config.pcId).toBe("MixedCase-Pc");
  });

  it("names the key, the file and an example when agent.id is missing", async () => {
    const e = await errorOf('[agent]\nnats_url = "nats://x:4222"\n');
    expect(e.key).toBe("agent.id");
    expect(e.message).toBe(
      `${e.path}: missing required key agent.id (the PC's id, e.g. id = "PC1234" under [agent])`,
    );
  });

  it("reports agent.id missing when there is no [agent] table at all", async () => {
    const e = await errorOf('[log]\nlevel = "info"\n');
    expect(e.key).toBe("agent.id");
    expect(e.message).toContain("missing required key agent.id");
  });

  it("names agent.nats_url when it is missing", async () => {
    const e = await errorOf('[agent]\nid = "PC1"\n');
    expect(e.key).toBe("agent.nats_url");
    expect(e.message).toMatch(
      /missing required key agent\.nats_url \(.*nats:\/\/127\.0\.0\.1:4222/,
    );
  });
});

describe("loadAgentConfig: nats_url", () => {
  it("splits a comma-separated string into a server list", async () => {
    const file = writeConfig('[agent]\nid = "PC1"\nnats_url = "nats://a:4222, nats://b:4222"\n');
    expect((await load(file)).config.natsUrls).toEqual(["nats://a:4222", "nats://b:4222"]);
  });

  it("passes credentials embedded in a URL unchanged (behavior.md 1.7)", async () => {
    const file = writeConfig('[agent]\nid = "PC1"\nnats_url = "nats://u:p@a:4222"\n');
    expect((await load(file)).config.natsUrls).toEqual(["nats://u:p@a:4222"]);
  });

  it.each([
    ["nats_url = []", "agent.nats_url", /must not be an empty array/],
    ['nats_url = ["nats://a", 5]', "agent.nats_url[1]", /must be a string, got an integer/],
    [
      "nats_url = 4222",
      "agent.nats_url",
      /must be a string or an array of strings, got an integer/,
    ],
    ['nats_url = ""', "agent.nats_url", /empty URL/],
    ['nats_url = "nats://a,,nats://b"', "agent.nats_url", /empty URL/],
  ])("refuses %s", async (line, key, pattern) => {
    const e = await errorOf(`[agent]\nid = "PC1"\n${line}\n`);
    expect(e.key).toBe(key);
    expect(e.message).toContain(key);
    expect(e.message).toMatch(pattern);
  });
});

describe("loadAgentConfig: wrong types name the key and the file", () => {
  it.each([
    [
      '[agent]\nid = 1234\nnats_url = "n"',
      "agent.id",
      /agent\.id must be a string, got an integer/,
    ],
    ['[agent]\nid = ""\nnats_url = "n"', "agent.id", /agent\.id must not be empty/],
    [`${MINIMAL}data_dir = true`, "agent.data_dir", /must be a string, got a boolean/],
    [`${MINIMAL}[log]\nlevel = "verbose"`, "log.level", /one of error, warn, info, debug, trace/],
    [`${MINIMAL}[log]\nlevel = 3`, "log.level", /must be a string/],
    [`${MINIMAL}[log]\nkeep_days = -1`, "log.keep_days", /integer ≥ 0, got -1/],
    [`${MINIMAL}[log]\nkeep_days = 1.5`, "log.keep_days", /integer ≥ 0, got 1\.5/],
    [`${MINIMAL}[log]\nkeep_days = "14"`, "log.keep_days", /integer ≥ 0, got a string/],
    [`${MINIMAL}[log]\npath = ["a"]`, "log.path", /must be a string, got an array/],
    [`log = "x"\n${MINIMAL}`, "log", /log must be a table \(\[log\]\), got a string/],
    [`agent = 1`, "agent", /agent must be a table/],
    [`${MINIMAL}[signing]\nrequire = "yes"`, "signing.require", /must be true or false/],
    [`${MINIMAL}[signing]\nkeys_file = 1`, "signing.keys_file", /must be a string/],
    [`${MINIMAL}[nats]\ncreds_file = 1`, "nats.creds_file", /must be a string/],
  ])("%s", async (text, key, pattern) => {
    const e = await errorOf(text);
    expect(e.key).toBe(key);
    expect(e.message).toMatch(pattern);
  });

  it("accepts log.level in any case", async () => {
    const { config } = await load(writeConfig(`${MINIMAL}[log]\nlevel = "WARN"\n`));
    expect(config.log.level).toBe("warn");
  });
});

describe("loadAgentConfig: file problems", () => {
  it("names file and line on a TOML syntax error", async () => {
    const e = await errorOf('[agent]\nid = "PC1"\nnats_url = \n');
    expect(e.line).toBe(3);
    expect(e.message).toMatch(new RegExp(`^${e.path}:3: TOML syntax error: invalid value`));
  });

  it("names the file when it cannot be read", async () => {
    const missing = join(tempDir(), "absent.toml");
    await expect(load(missing)).rejects.toThrow(
      new RegExp(`^${missing}: cannot read the config file: ENOENT`),
    );
  });

  it("refuses a file that is not UTF-8", async () => {
    const file = join(tempDir(), "agent.toml");
    writeFileSync(file, Buffer.from([0x5b, 0x61, 0x5d, 0x0a, 0xff, 0xfe, 0x0a]));
    await expect(load(file)).rejects.toThrow(/not valid UTF-8/);
  });

  it("accepts a UTF-8 byte order mark", async () => {
    const file = writeConfig(`\uFEFF${MINIMAL}`);
    expect((await load(file)).config.pcId).toBe("PC1");
  });

  it("refuses an oversized file rather than reading it all", async () => {
    const file = writeConfig(`${MINIMAL}# ${"x".repeat(1024 * 1024)}\n`);
    await expect(load(file)).rejects.toThrow(/larger than 1048576 bytes/);
  });
});

describe("loadAgentConfig: warnings, never fatal", () => {
  it("warns once for each unknown key and section and still loads", async () => {
    const file = writeConfig(
      `top = 1\n${MINIMAL}colour = "blue"\n[log]\nformat = "json"\n[extra]\na = 1\nb = 2\n[agent.nested]\nx = 1\n`,
    );
    const { config, warnings } = await load(file);
    expect(config.pcId).toBe("PC1");
    expect(warnings.sort()).toEqual(
      [
        `${file}: unknown key top (ignored)`,
        `${file}: unknown key agent.colour (ignored)`,
        `${file}: unknown key agent.nested (ignored)`,
        `${file}: unknown key log.format (ignored)`,
        `${file}: unknown section [extra] (ignored)`,
      ].sort(),
    );
  });

  it("warns that agent.groups is deprecated and ignores it", async () => {
    const file = writeConfig(`${MINIMAL}groups = ["canary"]\n`);
    const { config, warnings } = await load(file);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/agent\.groups is deprecated and ignored.*agent_groups/);
    expect(JSON.stringify(config)).not.toContain("canary");
  });
});

describe("loadAgentConfig: pc_id rules (behavior.md 1.6)", () => {
  it.each([
    ["pc 1", /"pc 1" is not a valid pc_id: it must not contain whitespace/],
    ["pc*", /"pc\*" is not a valid pc_id: it must not contain '\*' or '>'/],
    ["pc>", /'\*' or '>'/],
    [".pc", /must not start or end with '\.'/],
    ["pc.", /must not start or end with '\.'/],
    ["a..b", /empty token/],
    ["x".repeat(201), /at most 200 bytes/],
  ])("refuses %j quoting the id and the rule", async (id, pattern) => {
    const e = await errorOf(`[agent]\nid = ${JSON.stringify(id)}\nnats_url = "n"\n`);
    expect(e.key).toBe("agent.id");
    expect(e.message).toMatch(pattern);
  });

  it("refuses control characters", async () => {
    const e = await errorOf('[agent]\nid = "pc\\u0007"\nnats_url = "n"\n');
    expect(e.message).toMatch(
      /"pc\\u0007" is not a valid pc_id: it must not contain whitespace or control/,
    );
  });

  it("accepts a dotted host name", async () => {
    const { config, warnings } = await load(writeConfig(MINIMAL.replace("PC1", "pc1.corp.local")));
    expect(config.pcId).toBe("pc1.corp.local");
    expect(config.pcIdKvSafe).toBe(true);
    expect(warnings).toEqual([]);
  });

  it("accepts an id that cannot be a KV key, with a warning", async () => {
    const { config, warnings } = await load(writeConfig(MINIMAL.replace("PC1", "pc#1")));
    expect(config.pcId).toBe("pc#1");
    expect(config.pcIdKvSafe).toBe(false);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/agent\.id "pc#1" .*cannot be a KV key/);
  });
});

describe("loadAgentConfig: paths relative to the config file's folder", () => {
  it("resolves data_dir, log.path and signing.keys_file against the folder, not the cwd", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, "conf"));
    const file = writeConfig(
      `${MINIMAL}data_dir = "data"\n[log]\npath = "../logs/agent.log"\n[signing]\nkeys_file = "keys.json"\n`,
      join(dir, "conf"),
    );
    const { config } = await load(file);
    expect(config.dataDir).toBe(join(dir, "conf", "data"));
    expect(config.log.path).toBe(join(dir, "logs", "agent.log"));
    expect(config.signing).toEqual({ require: false, keysFile: join(dir, "conf", "keys.json") });
  });

  it("keeps absolute paths as written", async () => {
    const { config } = await load(writeConfig(`${MINIMAL}data_dir = "/abs/data"\n`));
    expect(config.dataDir).toBe("/abs/data");
  });
});

describe("loadAgentConfig: environment", () => {
  it("takes a non-empty $KANADE_NATS_TOKEN as the token", async () => {
    const { config } = await load(writeConfig(MINIMAL), { KANADE_NATS_TOKEN: "t0k" });
    expect(config.nats.auth.mode).toBe("token");
    if (config.nats.auth.mode === "token") expect(config.nats.auth.token.reveal()).toBe("t0k");
    const empty = await load(writeConfig(MINIMAL), { KANADE_NATS_TOKEN: "" });
    expect(empty.config.nats.auth).toEqual({ mode: "none" });
  });

  it("lets $KANADE_LOG_LEVEL override log.level, and warns about a bad value", async () => {
    const file = writeConfig(`${MINIMAL}[log]\nlevel = "warn"\n`);
    expect((await load(file, { KANADE_LOG_LEVEL: "trace" })).config.log.level).toBe("trace");
    const bad = await load(file, { KANADE_LOG_LEVEL: "loud" });
    expect(bad.config.log.level).toBe("warn");
    expect(bad.warnings).toEqual([
      expect.stringMatching(/\$KANADE_LOG_LEVEL="loud" is not one of/),
    ]);
  });
});

describe("loadAgentConfig: [signing] (behavior.md 17.1)", () => {
  it("is absent without a [signing] table", async () => {
    expect((await load(writeConfig(MINIMAL))).config.signing).toBeUndefined();
  });

  it("defaults require to false", async () => {
    const { config } = await load(writeConfig(`${MINIMAL}[signing]\nkeys_file = "/k.json"\n`));
    expect(config.signing).toEqual({ require: false, keysFile: "/k.json" });
  });

  it("refuses require = true without a keys file", async () => {
    const e = await errorOf(`${MINIMAL}[signing]\nrequire = true\n`);
    expect(e.key).toBe("signing.keys_file");
    expect(e.message).toMatch(/signing\.keys_file is required when signing\.require = true/);
  });
});
