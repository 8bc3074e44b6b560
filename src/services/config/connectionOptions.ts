// agent.toml → nats.js connection options (behavior.md 2.1). Secret files are read here, once,
// so a bad path or content stops the agent at start with the key and file named.

import { constants } from "node:fs";
import { access, open } from "node:fs/promises";
import {
  type Authenticator,
  credsAuthenticator,
  nkeyAuthenticator,
  tokenAuthenticator,
  usernamePasswordAuthenticator,
} from "@nats-io/nats-core";
import type { NodeConnectionOptions } from "@nats-io/transport-node";
import type { AgentConfig, NatsTls } from "./agentConfig.js";
import { ConfigError } from "./configError.js";

/** Creds, seeds and tokens are a few hundred bytes; this stops a wrong path from eating memory. */
export const MAX_SECRET_FILE_BYTES = 64 * 1024;

export interface ConnectionOptionsInput {
  /** Connection name shown by the server; default `kanade-agent-<pc_id>`. */
  name?: string;
}

async function readSecretFile(config: AgentConfig, key: string, file: string): Promise<string> {
  const fail = (why: string): never => {
    throw new ConfigError(config.configFile, `${key}: cannot use ${file}: ${why}`, { key });
  };
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(file, "r");
    const buffer = Buffer.alloc(MAX_SECRET_FILE_BYTES + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > MAX_SECRET_FILE_BYTES) fail(`larger than ${MAX_SECRET_FILE_BYTES} bytes`);
    const text = buffer.subarray(0, length).toString("utf8").trim();
    if (text === "") fail("the file is empty");
    return text;
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    return fail((err as Error).message);
  } finally {
    await handle?.close();
  }
}

/**
 * Runs an authenticator once against a dummy nonce so that unparseable creds or seeds fail at
 * start instead of on every reconnect. The library's message does not echo the secret.
 */
function checked(
  config: AgentConfig,
  key: string,
  file: string,
  auth: Authenticator,
): Authenticator {
  try {
    auth("kanade-agent-config-check");
  } catch (err) {
    throw new ConfigError(
      config.configFile,
      `${key}: ${file} is not a valid ${key === "nats.creds_file" ? "creds" : "nkey seed"} file (${(err as Error).message})`,
      { key },
    );
  }
  return auth;
}

async function authenticatorFor(config: AgentConfig): Promise<Authenticator | undefined> {
  const auth = config.nats.auth;
  switch (auth.mode) {
    case "none":
      return undefined;
    case "token":
      return tokenAuthenticator(auth.token.reveal());
    case "token_file":
      return tokenAuthenticator(await readSecretFile(config, "nats.token_file", auth.file));
    case "user_password":
      return usernamePasswordAuthenticator(auth.user, auth.password.reveal());
    case "creds_file": {
      const text = await readSecretFile(config, "nats.creds_file", auth.file);
      const creds = new TextEncoder().encode(`${text}\n`);
      return checked(config, "nats.creds_file", auth.file, credsAuthenticator(creds));
    }
    case "nkey_seed_file": {
      const seed = new TextEncoder().encode(
        await readSecretFile(config, "nats.nkey_seed_file", auth.file),
      );
      return checked(config, "nats.nkey_seed_file", auth.file, nkeyAuthenticator(seed));
    }
  }
}

async function checkReadable(config: AgentConfig, tls: NatsTls): Promise<void> {
  const files: [string, string | undefined][] = [
    ["nats.tls_ca", tls.caFile],
    ["nats.tls_cert", tls.certFile],
    ["nats.tls_key", tls.keyFile],
  ];
  for (const [key, file] of files) {
    if (file === undefined) continue;
    try {
      await access(file, constants.R_OK);
    } catch (err) {
      throw new ConfigError(
        config.configFile,
        `${key}: cannot read ${file}: ${(err as Error).message}`,
        { key },
      );
    }
  }
}

/**
 * Client settings of behavior.md 2.1: unlimited reconnects, first connect keeps trying in the
 * background, 5 s handshake, 3.4–4 s between attempts per server (see RECONNECT_WAIT_MS), ping
 * every 30 s with 2 unanswered = stale, and authorization errors do not stop reconnecting.
 */
export const RECONNECT_WAIT_MS = 3_400;
export const RECONNECT_JITTER_MS = 600;

export async function toConnectionOptions(
  config: AgentConfig,
  input: ConnectionOptionsInput = {},
): Promise<NodeConnectionOptions> {
  const options: NodeConnectionOptions = {
    servers: [...config.natsUrls],
    name: input.name ?? `kanade-agent-${config.pcId}`,
    maxReconnectAttempts: -1,
    waitOnFirstConnect: true,
    timeout: 5_000,
    // behavior.md 2.1 says 2 s per server; issue 8 (newer) caps a fleet's reconnect storm at 3
    // attempts per agent per 10 s: 3.4 s + up to 0.6 s jitter keeps every agent under it.
    reconnectTimeWait: RECONNECT_WAIT_MS,
    reconnectJitter: RECONNECT_JITTER_MS,
    pingInterval: 30_000,
    maxPingOut: 2,
    ignoreAuthErrorAbort: true,
    // Every request (each JetStream publish, each KV read) would otherwise build an Error to
    // keep the caller's stack: measurable CPU per command, and a failed publish logs its reason.
    noAsyncTraces: true,
  };
  const authenticator = await authenticatorFor(config);
  if (authenticator !== undefined) options.authenticator = authenticator;
  const tls = config.nats.tls;
  if (tls !== undefined) {
    await checkReadable(config, tls);
    options.tls = { ...tls };
  }
  return options;
}
