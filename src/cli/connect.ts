// Opening the operator's NATS connection: URL from --nats, $KANADE_NATS_URL or the default,
// token from $KANADE_NATS_TOKEN, 5 s to connect; any failure to connect is exit 3.
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { maskUrlCredentials } from "../services/config/describeConfig.js";
import { CliError, EXIT, oneLine } from "./errors.js";

export const DEFAULT_NATS_URL = "nats://127.0.0.1:4222";
export const NATS_URL_ENV = "KANADE_NATS_URL";
export const NATS_TOKEN_ENV = "KANADE_NATS_TOKEN";
export const CONNECT_TIMEOUT_MS = 5_000;

export interface NatsTarget {
  /** One URL or several, comma-separated (a cluster). */
  url: string;
  token?: string;
}

export function natsTarget(
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): NatsTarget {
  const url = flag ?? (env[NATS_URL_ENV] || DEFAULT_NATS_URL);
  const token = env[NATS_TOKEN_ENV];
  return token ? { url, token } : { url };
}

export async function connectNats(target: NatsTarget): Promise<NatsConnection> {
  const servers = target.url
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  const shown = servers.map(maskUrlCredentials).join(",") || "(no URL)";
  if (servers.length === 0) throw new CliError(EXIT.connect, `cannot connect: no NATS URL given`);
  try {
    return await connect({
      servers,
      name: "kanade-cli",
      timeout: CONNECT_TIMEOUT_MS,
      ...(target.token ? { token: target.token } : {}),
    });
  } catch (err) {
    throw new CliError(EXIT.connect, `cannot connect to ${shown}: ${oneLine(err)}`, {
      cause: err,
    });
  }
}
