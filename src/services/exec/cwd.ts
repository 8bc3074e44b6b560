/**
 * The child's working directory (behavior.md 7.7), or undefined for the agent's own. Pure: the
 * caller passes the environment and the agent account's home/profile directory.
 *
 * A leading `~` is only expanded as `~` alone or followed by a separator (`~/x`, and `~\x` on
 * Windows), as kanade does; `~name` is a plain directory name. Windows then expands `%VAR%`
 * like `ExpandEnvironmentStrings`: names are case-insensitive, unknown ones stay as written.
 */
export function resolveCwd(
  cwd: string | null | undefined,
  ctx: { platform: NodeJS.Platform; env: Record<string, string | undefined>; homedir: string },
): string | undefined {
  if (!cwd) return undefined;
  if (ctx.platform === "win32") {
    return expandWindowsEnv(expandTilde(cwd, ctx.homedir, true), ctx.env);
  }
  const home = ctx.env.HOME || ctx.homedir;
  return expandTilde(cwd, home, false);
}

function expandTilde(cwd: string, home: string, windows: boolean): string {
  if (cwd === "~") return home;
  const sep = cwd[1];
  if (cwd[0] !== "~" || !(sep === "/" || (windows && sep === "\\"))) return cwd;
  const rest = cwd.slice(2);
  const homeEndsWithSep = home.endsWith("/") || (windows && home.endsWith("\\"));
  return `${home}${homeEndsWithSep ? "" : windows ? "\\" : "/"}${rest}`;
}

function expandWindowsEnv(text: string, env: Record<string, string | undefined>): string {
  if (!text.includes("%")) return text;
  const byUpperName = new Map<string, string>();
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && !byUpperName.has(name.toUpperCase())) {
      byUpperName.set(name.toUpperCase(), value);
    }
  }
  return text.replace(/%([^%]*)%/g, (whole, name: string) => {
    const value = name ? byUpperName.get(name.toUpperCase()) : undefined;
    return value ?? whole;
  });
}
