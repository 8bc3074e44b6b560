// Reads agent.toml once at start (README "Decisions that are fixed" 3, behavior.md 1.3–1.7,
// 17.1, 20): templating, types, defaults per OS, path resolution and the optional `[nats]`
// table (our extension: auth files and TLS).

import { open } from "node:fs/promises";
import { parse, TomlError } from "smol-toml";
import type { LogLevel } from "../logging/logger.js";
import { validatePcId } from "../nats/subjects.js";
import { isKvKeySafe } from "../wire/ids.js";
import { type AgentConfig, LOG_LEVELS, type NatsAuth, type NatsTls } from "./agentConfig.js";
import { ConfigError } from "./configError.js";
import { defaultDataDir, defaultLogPath, type Env, pathFor } from "./platformPaths.js";
import { Secret } from "./secret.js";
import { defaultHostName, expandTemplates, type TemplateContext } from "./templates.js";

export const NATS_TOKEN_ENV_VAR = "KANADE_NATS_TOKEN";
export const LOG_LEVEL_ENV_VAR = "KANADE_LOG_LEVEL";
/** agent.toml is a few lines; anything this large is the wrong file. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

export interface LoadOptions {
  env?: Env;
  /** Host name for `{{ system.host }}`; default as the heartbeat resolves it. */
  hostname?: string;
  platform?: NodeJS.Platform;
}

export interface LoadedConfig {
  config: AgentConfig;
  /** One line per ignored key, deprecated key or unusable-but-accepted value, naming the file. */
  warnings: string[];
}

type Table = Record<string, unknown>;

const KNOWN_KEYS: Readonly<Record<string, readonly string[]>> = {
  agent: ["id", "nats_url", "data_dir", "groups"],
  log: ["path", "level", "keep_days"],
  signing: ["require", "keys_file", "require_envelope"],
  nats: [
    "token_file",
    "user",
    "password",
    "creds_file",
    "nkey_seed_file",
    "tls_ca",
    "tls_cert",
    "tls_key",
  ],
};

const EXAMPLES: Readonly<Record<string, string>> = {
  "agent.id": 'the PC\'s id, e.g. id = "PC1234" under [agent]',
  "agent.nats_url": 'the broker, e.g. nats_url = "nats://127.0.0.1:4222" under [agent]',
  "agent.data_dir": 'e.g. data_dir = "/var/lib/kanade" under [agent]',
  "log.path": 'e.g. path = "/var/log/kanade/agent.log" under [log]',
  "log.keep_days": "days of log files to keep, 0 = stdout only, e.g. keep_days = 14 under [log]",
  "signing.require": "e.g. require = true under [signing]",
  "signing.keys_file": 'e.g. keys_file = "keys.json" under [signing]',
};

const isTable = (v: unknown): v is Table =>
  typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);

function describeType(v: unknown): string {
  if (typeof v === "string") return "a string";
  if (typeof v === "boolean") return "a boolean";
  if (typeof v === "number") return Number.isInteger(v) ? "an integer" : "a float";
  if (Array.isArray(v)) return "an array";
  if (v instanceof Date) return "a date-time";
  if (isTable(v)) return "a table";
  return typeof v;
}

async function readBounded(file: string): Promise<string> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, "r");
  } catch (err) {
    throw new ConfigError(file, `cannot read the config file: ${(err as Error).message}`);
  }
  try {
    const buffer = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > MAX_CONFIG_BYTES) {
      throw new ConfigError(file, `config file is larger than ${MAX_CONFIG_BYTES} bytes`);
    }
    try {
      return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(
        buffer.subarray(0, length),
      );
    } catch {
      throw new ConfigError(file, "config file is not valid UTF-8; save it as UTF-8");
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(file, `cannot read the config file: ${(err as Error).message}`);
  } finally {
    await handle.close();
  }
}

function parseToml(file: string, text: string): Table {
  try {
    return parse(text) as Table;
  } catch (err) {
    if (err instanceof TomlError) {
      const reason = (err.message.split("\n")[0] ?? "").replace(/^Invalid TOML document:\s*/, "");
      throw new ConfigError(file, `TOML syntax error: ${reason} (column ${err.column})`, {
        line: err.line,
      });
    }
    throw new ConfigError(file, `TOML syntax error: ${(err as Error).message}`);
  }
}

/** Reads typed values out of one parsed file, collecting warnings and failing with ConfigError. */
class Reader {
  readonly warnings: string[] = [];
  readonly path: ReturnType<typeof pathFor>;
  readonly dir: string;

  constructor(
    readonly file: string,
    readonly ctx: TemplateContext,
    platform: NodeJS.Platform,
  ) {
    this.path = pathFor(platform);
    this.dir = this.path.dirname(this.path.resolve(file));
  }

  fail(key: string, detail: string): never {
    throw new ConfigError(this.file, `${key} ${detail}`, { key });
  }

  warn(detail: string): void {
    this.warnings.push(`${this.file}: ${detail}`);
  }

  example(key: string): string {
    const hint = EXAMPLES[key];
    return hint === undefined ? "" : ` (${hint})`;
  }

  /** A known section: a table, or absent (empty). Unknown keys inside it are warned about. */
  section(root: Table, name: string): Table | undefined {
    const value = root[name];
    if (value === undefined) return undefined;
    if (!isTable(value)) {
      this.fail(name, `must be a table ([${name}]), got ${describeType(value)}`);
    }
    const known = KNOWN_KEYS[name] ?? [];
    for (const key of Object.keys(value)) {
      if (!known.includes(key)) this.warn(`unknown key ${name}.${key} (ignored)`);
    }
    return value;
  }

  expand(key: string, raw: string): string {
    const result = expandTemplates(raw, this.ctx);
    if (!result.ok) this.fail(key, `has template ${result.expression}: ${result.problem}`);
    return result.value;
  }

  /** An optional string, templated; empty is refused because no key here means anything empty. */
  string(table: Table | undefined, section: string, name: string): string | undefined {
    const key = `${section}.${name}`;
    const raw = table?.[name];
    if (raw === undefined) return undefined;
    if (typeof raw !== "string") {
      this.fail(key, `must be a string, got ${describeType(raw)}${this.example(key)}`);
    }
    const value = this.expand(key, raw);
    if (value.trim() === "") this.fail(key, `must not be empty${this.example(key)}`);
    return value;
  }

  requiredString(table: Table | undefined, section: string, name: string): string {
    const value = this.string(table, section, name);
    if (value === undefined) {
      const key = `${section}.${name}`;
      throw new ConfigError(this.file, `missing required key ${key}${this.example(key)}`, { key });
    }
    return value;
  }

  /** A file path; relative paths are taken from the config file's folder. */
  filePath(table: Table | undefined, section: string, name: string): string | undefined {
    const value = this.string(table, section, name);
    return value === undefined ? undefined : this.path.resolve(this.dir, value);
  }

  boolean(table: Table | undefined, section: string, name: string): boolean | undefined {
    const key = `${section}.${name}`;
    const raw = table?.[name];
    if (raw === undefined || typeof raw === "boolean") return raw;
    return this.fail(key, `must be true or false, got ${describeType(raw)}${this.example(key)}`);
  }
}

function readNatsUrls(r: Reader, agent: Table | undefined): string[] {
  const key = "agent.nats_url";
  const raw = agent?.nats_url;
  if (raw === undefined) {
    throw new ConfigError(r.file, `missing required key ${key}${r.example(key)}`, { key });
  }
  let urls: string[];
  if (typeof raw === "string") {
    // A comma-separated string is a server list, as the Rust client reads it.
    urls = r
      .expand(key, raw)
      .split(",")
      .map((u) => u.trim());
  } else if (Array.isArray(raw)) {
    if (raw.length === 0) r.fail(key, `must not be an empty array${r.example(key)}`);
    urls = raw.map((item, i) => {
      if (typeof item !== "string") {
        r.fail(`${key}[${i}]`, `must be a string, got ${describeType(item)}${r.example(key)}`);
      }
      return r.expand(`${key}[${i}]`, item).trim();
    });
  } else {
    return r.fail(
      key,
      `must be a string or an array of strings, got ${describeType(raw)}${r.example(key)}`,
    );
  }
  if (urls.some((u) => u === "")) r.fail(key, `must not contain an empty URL${r.example(key)}`);
  return urls;
}

function readPcId(r: Reader, agent: Table | undefined): { pcId: string; kvSafe: boolean } {
  const pcId = r.requiredString(agent, "agent", "id");
  const problem = validatePcId(pcId);
  if (problem !== null) {
    r.fail("agent.id", `${JSON.stringify(pcId)} is not a valid pc_id: it ${problem}`);
  }
  const kvSafe = isKvKeySafe(pcId);
  if (!kvSafe) {
    r.warn(
      `agent.id ${JSON.stringify(pcId)} has characters outside A-Z a-z 0-9 _ = / . - and cannot ` +
        "be a KV key: the agent runs without group membership and without a pcs.<pc_id> scope",
    );
  }
  return { pcId, kvSafe };
}

function readLog(
  r: Reader,
  log: Table | undefined,
  env: Env,
  platform: NodeJS.Platform,
): AgentConfig["log"] {
  const path = r.filePath(log, "log", "path") ?? defaultLogPath(platform, env);

  let level: LogLevel = "info";
  const rawLevel = r.string(log, "log", "level");
  if (rawLevel !== undefined) {
    const parsed = parseLevel(rawLevel);
    if (parsed === undefined) {
      r.fail(
        "log.level",
        `must be one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(rawLevel)}`,
      );
    }
    level = parsed;
  }
  const fromEnv = env[LOG_LEVEL_ENV_VAR];
  if (fromEnv !== undefined && fromEnv !== "") {
    const parsed = parseLevel(fromEnv);
    if (parsed === undefined) {
      r.warn(
        `$${LOG_LEVEL_ENV_VAR}=${JSON.stringify(fromEnv)} is not one of ${LOG_LEVELS.join(", ")}; ` +
          `using log level ${level}`,
      );
    } else {
      level = parsed;
    }
  }

  let keepDays = 14;
  const rawKeep = log?.keep_days;
  if (rawKeep !== undefined) {
    if (typeof rawKeep !== "number" || !Number.isSafeInteger(rawKeep) || rawKeep < 0) {
      const got = typeof rawKeep === "number" ? String(rawKeep) : describeType(rawKeep);
      r.fail("log.keep_days", `must be an integer ≥ 0, got ${got}${r.example("log.keep_days")}`);
    }
    keepDays = rawKeep;
  }
  return { path, level, keepDays };
}

function parseLevel(text: string): LogLevel | undefined {
  const lower = text.trim().toLowerCase();
  return LOG_LEVELS.find((l) => l === lower);
}

function readSigning(r: Reader, signing: Table | undefined): AgentConfig["signing"] {
  if (signing === undefined) return undefined;
  const require = r.boolean(signing, "signing", "require") ?? false;
  const keysFile = r.filePath(signing, "signing", "keys_file");
  if (require && keysFile === undefined) {
    r.fail(
      "signing.keys_file",
      "is required when signing.require = true (a JSON keyring, " +
        'e.g. keys_file = "keys.json" under [signing])',
    );
  }
  const requireEnvelope = r.boolean(signing, "signing", "require_envelope") ?? false;
  return {
    require,
    ...(keysFile === undefined ? {} : { keysFile }),
    ...(requireEnvelope ? { requireEnvelope } : {}),
  };
}

function readNats(r: Reader, nats: Table | undefined, env: Env): AgentConfig["nats"] {
  const tokenFile = r.filePath(nats, "nats", "token_file");
  const user = r.string(nats, "nats", "user");
  // An empty password is legal for NATS, so it bypasses the non-empty rule of `string`.
  const rawPassword = nats?.password;
  let password: string | undefined;
  if (rawPassword !== undefined) {
    if (typeof rawPassword !== "string") {
      r.fail("nats.password", `must be a string, got ${describeType(rawPassword)}`);
    }
    password = r.expand("nats.password", rawPassword);
  }
  const credsFile = r.filePath(nats, "nats", "creds_file");
  const nkeySeedFile = r.filePath(nats, "nats", "nkey_seed_file");
  const envToken = env[NATS_TOKEN_ENV_VAR];

  if (user !== undefined && password === undefined) {
    r.fail("nats.user", 'needs nats.password as well (e.g. password = "…" under [nats])');
  }
  if (password !== undefined && user === undefined) {
    r.fail("nats.password", 'needs nats.user as well (e.g. user = "agent" under [nats])');
  }

  const configured: { key: string; auth: NatsAuth }[] = [];
  if (envToken !== undefined && envToken !== "") {
    configured.push({
      key: `$${NATS_TOKEN_ENV_VAR}`,
      auth: { mode: "token", token: new Secret(envToken) },
    });
  }
  if (tokenFile !== undefined) {
    configured.push({ key: "nats.token_file", auth: { mode: "token_file", file: tokenFile } });
  }
  if (user !== undefined && password !== undefined) {
    configured.push({
      key: "nats.user",
      auth: { mode: "user_password", user, password: new Secret(password) },
    });
  }
  if (credsFile !== undefined) {
    configured.push({ key: "nats.creds_file", auth: { mode: "creds_file", file: credsFile } });
  }
  if (nkeySeedFile !== undefined) {
    configured.push({
      key: "nats.nkey_seed_file",
      auth: { mode: "nkey_seed_file", file: nkeySeedFile },
    });
  }
  if (configured.length > 1) {
    const names = configured.map((c) => c.key);
    const culprit = names.find((n) => n.startsWith("nats.")) ?? names[0] ?? "nats";
    r.fail(
      culprit,
      `conflicts with ${names.filter((n) => n !== culprit).join(" and ")}: configure only one ` +
        `way to authenticate ($${NATS_TOKEN_ENV_VAR}, nats.token_file, nats.user + nats.password, ` +
        "nats.creds_file or nats.nkey_seed_file)",
    );
  }
  const auth: NatsAuth = configured[0]?.auth ?? { mode: "none" };

  const caFile = r.filePath(nats, "nats", "tls_ca");
  const certFile = r.filePath(nats, "nats", "tls_cert");
  const keyFile = r.filePath(nats, "nats", "tls_key");
  if (certFile !== undefined && keyFile === undefined) {
    r.fail("nats.tls_cert", 'needs nats.tls_key, the client key (e.g. tls_key = "client.key")');
  }
  if (keyFile !== undefined && certFile === undefined) {
    r.fail(
      "nats.tls_key",
      'needs nats.tls_cert, the client certificate (e.g. tls_cert = "client.pem")',
    );
  }
  if (caFile === undefined && certFile === undefined) return { auth };
  const tls: NatsTls = {};
  if (caFile !== undefined) tls.caFile = caFile;
  if (certFile !== undefined) tls.certFile = certFile;
  if (keyFile !== undefined) tls.keyFile = keyFile;
  return { auth, tls };
}

/**
 * Loads and validates agent.toml. Throws ConfigError (exit 2) for a syntax error, a missing or
 * mistyped key, a bad template, an invalid pc_id or contradictory `[nats]` settings; everything
 * merely unexpected becomes a warning.
 */
export async function loadAgentConfig(file: string, opts: LoadOptions = {}): Promise<LoadedConfig> {
  const env = opts.env ?? process.env;
  const platform = opts.platform ?? process.platform;
  let host = opts.hostname;
  const ctx: TemplateContext = {
    env,
    host: () => {
      host ??= defaultHostName(env);
      return host;
    },
  };

  const root = parseToml(file, await readBounded(file));
  const r = new Reader(file, ctx, platform);

  for (const [name, value] of Object.entries(root)) {
    if (KNOWN_KEYS[name] !== undefined) continue;
    r.warn(
      isTable(value) ? `unknown section [${name}] (ignored)` : `unknown key ${name} (ignored)`,
    );
  }
  const agent = r.section(root, "agent");
  const log = r.section(root, "log");
  const signing = r.section(root, "signing");
  const nats = r.section(root, "nats");

  const { pcId, kvSafe } = readPcId(r, agent);
  const natsUrls = readNatsUrls(r, agent);
  const dataDir = r.filePath(agent, "agent", "data_dir") ?? defaultDataDir(platform, env);
  if (agent?.groups !== undefined) {
    r.warn(
      "agent.groups is deprecated and ignored: group membership comes from the agent_groups " +
        "KV bucket; remove the key",
    );
  }

  const config: AgentConfig = {
    configFile: file,
    pcId,
    pcIdKvSafe: kvSafe,
    natsUrls,
    dataDir,
    log: readLog(r, log, env, platform),
    nats: readNats(r, nats, env),
  };
  const signingConfig = readSigning(r, signing);
  if (signingConfig !== undefined) config.signing = signingConfig;
  return { config, warnings: r.warnings };
}
