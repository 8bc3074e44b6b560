export const NATS_TOKEN_ENV = "KANADE_NATS_TOKEN";

/**
 * The environment a child inherits: the agent's, without the NATS token (behavior.md 7.8).
 * The name is matched case-insensitively because Windows environment names are, and a leaked
 * token is worse than a dropped look-alike variable. `env` is taken as immutable: the result is
 * kept per object, so pass a copy (the agent reads its environment once), not `process.env`
 * while something may still change it.
 */
export function childEnv(env: Record<string, string | undefined>): Record<string, string> {
  // The agent passes the same object for every command (its environment, read once).
  const known = filtered.get(env);
  if (known) return known;
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || name.toUpperCase() === NATS_TOKEN_ENV) continue;
    out[name] = value;
  }
  filtered.set(env, Object.freeze(out) as Record<string, string>);
  return out;
}

const filtered = new WeakMap<object, Record<string, string>>();
