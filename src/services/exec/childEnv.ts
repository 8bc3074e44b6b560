export const NATS_TOKEN_ENV = "KANADE_NATS_TOKEN";

/**
 * The environment a child inherits: the agent's, without the NATS token (behavior.md 7.8).
 * The name is matched case-insensitively because Windows environment names are, and a leaked
 * token is worse than a dropped look-alike variable.
 */
export function childEnv(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || name.toUpperCase() === NATS_TOKEN_ENV) continue;
    out[name] = value;
  }
  return out;
}
