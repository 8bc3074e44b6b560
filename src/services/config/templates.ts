// `{{ … }}` expansion in agent.toml string values (behavior.md 1.5). Only two expressions exist;
// anything else is refused rather than passed through, so a typo cannot become a literal id.

import { hostname as osHostname } from "node:os";
import type { Env } from "./platformPaths.js";

export interface TemplateContext {
  env: Env;
  /** Host name for `{{ system.host }}`; asked for only when a value uses it. */
  host: () => string;
}

export type Expansion =
  | { ok: true; value: string }
  | { ok: false; expression: string; problem: string };

const EXPRESSION = /\{\{(.*?)\}\}/gs;
const QUOTED_ARG = /^\s*([A-Za-z_]+)\s*=\s*(?:"([^"]*)"|'([^']*)')\s*(?:,|$)/;

/** The host name as the heartbeat reports it: `COMPUTERNAME`, else `HOSTNAME`, else the OS's. */
export function defaultHostName(env: Env): string {
  return env.COMPUTERNAME || env.HOSTNAME || osHostname();
}

/** Named string arguments of `env(...)`, or a problem. */
function parseArgs(text: string): Map<string, string> | string {
  const args = new Map<string, string>();
  let rest = text.trim();
  while (rest !== "") {
    const m = QUOTED_ARG.exec(rest);
    if (m === null) return 'expected name="…" and optionally default="…"';
    const [whole, key = "", dq, sq] = m;
    if (key !== "name" && key !== "default") return `unknown argument ${key}`;
    if (args.has(key)) return `argument ${key} given twice`;
    args.set(key, dq ?? sq ?? "");
    rest = rest.slice(whole.length).trim();
  }
  return args;
}

function evaluate(inner: string, ctx: TemplateContext): { value: string } | { problem: string } {
  const expr = inner.trim();
  if (expr === "system.host") return { value: ctx.host() };
  const call = /^env\s*\((.*)\)$/s.exec(expr);
  if (call === null) {
    return { problem: 'unknown template; use {{ system.host }} or {{ env(name="X") }}' };
  }
  const args = parseArgs(call[1] ?? "");
  if (typeof args === "string") return { problem: args };
  const name = args.get("name");
  if (name === undefined || name === "") return { problem: "env() needs a non-empty name" };
  const value = ctx.env[name];
  if (value !== undefined) return { value };
  const fallback = args.get("default");
  if (fallback !== undefined) return { value: fallback };
  return {
    problem: `environment variable ${name} is not set; set it or add default="…"`,
  };
}

/** Expands every `{{ … }}` of one string. Expanded text is not expanded again. */
export function expandTemplates(text: string, ctx: TemplateContext): Expansion {
  let failure: { expression: string; problem: string } | undefined;
  const value = text.replace(EXPRESSION, (expression, inner: string) => {
    if (failure !== undefined) return expression;
    const result = evaluate(inner, ctx);
    if ("problem" in result) {
      failure = { expression, problem: result.problem };
      return expression;
    }
    return result.value;
  });
  return failure === undefined ? { ok: true, value } : { ok: false, ...failure };
}
