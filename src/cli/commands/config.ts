// `kanade config get|set|unset|clear [--group g|--pc id]` and `kanade config effective <pc_id>`.
import type { NatsConnection } from "@nats-io/nats-core";
import type { Command } from "commander";
import { resolveEffectiveConfig } from "../../services/config/resolve.js";
import { openExistingBucket } from "../../services/kv/bucket.js";
import { readConfigSnapshot } from "../../services/kv/configSync.js";
import { membershipOf, readMembership } from "../../services/kv/groupsRead.js";
import {
  CONFIG_KEY_GLOBAL,
  configGroupKey,
  configPcKey,
  KV_AGENT_CONFIG,
  KV_AGENT_GROUPS,
} from "../../services/nats/subjects.js";
import {
  type ConfigScope,
  encodeConfigScope,
  encodeEffectiveConfig,
  normalizeGroups,
} from "../../services/wire/index.js";
import { fieldNamed, parseFieldValue, withField } from "../configValues.js";
import type { CliContext, Runner } from "../context.js";
import { doing, EXIT, failed, usageError } from "../errors.js";
import { withProgress } from "../format/progress.js";
import { renderTable } from "../format/table.js";
import { openKv } from "../kv.js";
import { kvPcIdArg } from "../options.js";
import {
  editScope,
  readScope,
  type ScopeFlags,
  type ScopeRef,
  scopeFromFlags,
  scopeKey,
  scopeOptions,
} from "../scopes.js";

/** What `config effective` shows for `max_local_concurrent` when no scope sets it. */
export const CPUS_PLACEHOLDER = "cpus";

export function registerConfig(program: Command, run: Runner): void {
  const config = program
    .command("config")
    .description("read and change the layered agent settings (KV agent_config)")
    .addHelpText(
      "after",
      "\nScope: global unless --group <g> or --pc <pc_id> is given. Resolution on the agent:\n" +
        "defaults ← global ← its groups (byte order, last wins) ← pcs.<pc_id>.",
    );

  const withScope = (cmd: Command): Command => {
    for (const o of scopeOptions(false)) cmd.addOption(o);
    return cmd;
  };

  withScope(config.command("get").description("show one scope")).action(
    (opts: ScopeFlags, cmd: Command) => run(cmd, (ctx) => get(ctx, scopeFromFlags(opts, false))),
  );

  withScope(
    config
      .command("set")
      .description("set one field of a scope (value validated: durations, booleans, integers)")
      .argument("<field>", "e.g. heartbeat_interval (or field=value)")
      .argument("[value]", "e.g. 15s"),
  ).action((field: string, value: string | undefined, opts: ScopeFlags, cmd: Command) =>
    run(cmd, (ctx) => set(ctx, scopeFromFlags(opts, false), field, value)),
  );

  withScope(
    config.command("unset").description("remove one field from a scope").argument("<field>"),
  ).action((field: string, opts: ScopeFlags, cmd: Command) =>
    run(cmd, (ctx) => unset(ctx, scopeFromFlags(opts, false), field)),
  );

  withScope(config.command("clear").description("delete a whole scope")).action(
    (opts: ScopeFlags, cmd: Command) => run(cmd, (ctx) => clear(ctx, scopeFromFlags(opts, false))),
  );

  config
    .command("effective")
    .description("the settings one PC resolves to, with the agent's own resolver")
    .argument("<pc_id>", "the PC", kvPcIdArg)
    .addHelpText(
      "after",
      `\nThe CLI cannot know a remote PC's CPU count: when no scope sets max_local_concurrent,\nit shows "${CPUS_PLACEHOLDER}" (and --json leaves the member out, which means the same).`,
    )
    .action((pcId: string, _opts: unknown, cmd: Command) =>
      run(cmd, (ctx) => effective(ctx, pcId)),
    );
}

const label = (key: string) => `${KV_AGENT_CONFIG}.${key}`;

function showValue(v: unknown): string {
  return typeof v === "string" ? v : JSON.stringify(v);
}

async function get(ctx: CliContext, ref: ScopeRef): Promise<number> {
  const key = scopeKey(ref);
  const value = await ctx.withNats(async (nc) => readScope(await openKv(nc, KV_AGENT_CONFIG), key));
  if (ctx.json) {
    ctx.printJson({ key, revision: value.revision, value: value.raw });
    return EXIT.ok;
  }
  if (value.raw === null) {
    ctx.print(`# ${label(key)}: no value`);
    return EXIT.ok;
  }
  const members = Object.entries(value.raw).filter(([, v]) => v !== null);
  ctx.print(
    [
      `# ${label(key)} (revision ${value.revision})`,
      ...(members.length === 0 ? ["(empty)"] : members.map(([k, v]) => `${k} = ${showValue(v)}`)),
    ].join("\n"),
  );
  return EXIT.ok;
}

async function set(
  ctx: CliContext,
  ref: ScopeRef,
  fieldArg: string,
  valueArg: string | undefined,
): Promise<number> {
  let name = fieldArg;
  let text = valueArg;
  // kanade's own CLI takes `field=value`; both spellings work.
  if (text === undefined) {
    const eq = fieldArg.indexOf("=");
    if (eq < 0)
      throw usageError(`no value given for ${fieldArg} (kanade config set <field> <value>)`);
    name = fieldArg.slice(0, eq);
    text = fieldArg.slice(eq + 1);
  }
  const field = fieldNamed(name);
  const parsed = parseFieldValue(field, text, ctx.io.clock.now());
  if (parsed.note !== undefined) ctx.warn(parsed.note);
  const key = scopeKey(ref);
  const { scope } = await ctx.withNats(async (nc) =>
    editScope(await openKv(nc, KV_AGENT_CONFIG), key, (s) => withField(s, field, parsed.value)),
  );
  reportScope(ctx, key, scope, `${label(key)}: ${field.name} = ${showValue(parsed.value)}`);
  return EXIT.ok;
}

async function unset(ctx: CliContext, ref: ScopeRef, name: string): Promise<number> {
  const field = fieldNamed(name);
  const key = scopeKey(ref);
  const { scope, written } = await ctx.withNats(async (nc) =>
    editScope(await openKv(nc, KV_AGENT_CONFIG), key, (s) =>
      s[field.key] === undefined ? null : withField(s, field, undefined),
    ),
  );
  reportScope(
    ctx,
    key,
    scope,
    written ? `${label(key)}: ${field.name} removed` : `${label(key)}: ${field.name} was not set`,
  );
  return EXIT.ok;
}

function reportScope(ctx: CliContext, key: string, scope: ConfigScope, text: string): void {
  if (ctx.json) ctx.printJson({ key, value: encodeConfigScope(scope) });
  else ctx.print(text);
}

async function clear(ctx: CliContext, ref: ScopeRef): Promise<number> {
  const key = scopeKey(ref);
  await ctx.withNats(async (nc) => {
    const kv = await openKv(nc, KV_AGENT_CONFIG);
    await doing(`delete ${label(key)}`, () => kv.delete(key));
  });
  if (ctx.json) ctx.printJson({ key, value: null });
  else ctx.print(`${label(key)}: cleared`);
  return EXIT.ok;
}

interface Effective {
  pcId: string;
  groups: string[];
  config: Record<string, unknown>;
  sources: Record<string, string>;
  maxLocalConcurrentIsDefault: boolean;
  conflicts: { field: string; groups: string[] }[];
  problems: string[];
}

async function effective(ctx: CliContext, pcId: string): Promise<number> {
  const e = await ctx.withNats((nc) =>
    withProgress(ctx.io, `reading the scopes of ${pcId}`, () =>
      doing("config effective", () => readEffective(nc, pcId)),
    ),
  );
  for (const p of e.problems) ctx.warn(p);
  if (ctx.json) {
    const config = { ...e.config };
    if (e.maxLocalConcurrentIsDefault) delete config.max_local_concurrent;
    ctx.printJson({
      pc_id: e.pcId,
      groups: e.groups,
      config,
      sources: e.sources,
      conflicts: e.conflicts,
    });
    return EXIT.ok;
  }
  const rows = Object.entries(e.config).map(([field, value]) => {
    const shown =
      field === "max_local_concurrent" && e.maxLocalConcurrentIsDefault
        ? CPUS_PLACEHOLDER
        : value === null
          ? "(unset)"
          : showValue(value);
    return [field, shown, e.sources[field] ?? "default"];
  });
  ctx.print(
    [
      `# ${e.pcId}: groups ${e.groups.length === 0 ? "(none)" : e.groups.join(", ")}`,
      renderTable([{ header: "FIELD" }, { header: "VALUE" }, { header: "FROM" }], rows).trimEnd(),
      ...e.conflicts.map(
        (c) =>
          `# conflict: ${c.field} is set by groups ${c.groups.join(", ")}; ${c.groups.at(-1)} wins`,
      ),
    ].join("\n"),
  );
  return EXIT.ok;
}

async function readEffective(nc: NatsConnection, pcId: string): Promise<Effective> {
  const configBucket = await openExistingBucket(nc, KV_AGENT_CONFIG).catch((err: unknown) => {
    throw failed(
      `KV bucket ${KV_AGENT_CONFIG} is not available; run \`kanade jetstream setup\``,
      err,
    );
  });
  const groupsBucket = await openExistingBucket(nc, KV_AGENT_GROUPS).catch((err: unknown) => {
    throw failed(
      `KV bucket ${KV_AGENT_GROUPS} is not available; run \`kanade jetstream setup\``,
      err,
    );
  });
  // The same reads and the same resolver the agent's config supervisor uses.
  const snapshot = await readConfigSnapshot(configBucket, configPcKey(pcId));
  const membership = await readMembership(groupsBucket, pcId);
  const groups = membershipOf(membership.read);
  const problems = snapshot.malformed.map(
    (m) => `${label(m.key)} is malformed and ignored by agents: ${m.problem}`,
  );
  if (membership.read.kind === "malformed") {
    problems.push(
      `${KV_AGENT_GROUPS}.${pcId} is malformed (${membership.read.problem}); the agent treats it as no groups`,
    );
  }
  if (membership.read.kind === "groups") {
    for (const d of membership.read.dropped) {
      problems.push(
        `${KV_AGENT_GROUPS}.${pcId}: group ${JSON.stringify(d.name)} is ignored: ${d.problem}`,
      );
    }
  }
  const { mirror } = snapshot;
  const layers = {
    global: mirror.global,
    groups: mirror.groups,
    pc: mirror.pc,
    membership: groups,
  };
  // The PC's CPU count is unknown here: resolving with two different counts shows whether
  // max_local_concurrent comes from a scope or from the default.
  const one = resolveEffectiveConfig({ ...layers, cpus: 1 });
  const two = resolveEffectiveConfig({ ...layers, cpus: 2 });
  return {
    pcId,
    groups,
    config: encodeEffectiveConfig(one.config),
    sources: sourcesOf(layers, configPcKey(pcId)),
    // 0 also means "the number of CPUs" to the agent (wire §5.1).
    maxLocalConcurrentIsDefault:
      one.config.maxLocalConcurrent !== two.config.maxLocalConcurrent ||
      one.config.maxLocalConcurrent === 0,
    conflicts: one.conflicts,
    problems,
  };
}

/** Which scope each set member came from (display only; the values come from the resolver). */
function sourcesOf(
  layers: {
    global: ConfigScope | null;
    groups: ReadonlyMap<string, ConfigScope>;
    pc: ConfigScope | null;
    membership: readonly string[];
  },
  pcKey: string,
): Record<string, string> {
  const sources: Record<string, string> = {};
  const note = (scope: ConfigScope | null | undefined, key: string) => {
    if (!scope) return;
    for (const field of Object.keys(encodeConfigScope(scope))) sources[field] = key;
  };
  note(layers.global, CONFIG_KEY_GLOBAL);
  for (const g of normalizeGroups(layers.membership)) note(layers.groups.get(g), configGroupKey(g));
  note(layers.pc, pcKey);
  return sources;
}
