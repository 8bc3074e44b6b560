// `kanade agent groups list|add|rm|set`: a PC's group memberships in KV `agent_groups`.
import type { KV } from "@nats-io/kv";
import type { Command } from "commander";
import { KV_AGENT_GROUPS } from "../../services/nats/subjects.js";
import {
  decodeAgentGroups,
  encodeAgentGroups,
  normalizeGroups,
  parseJson,
} from "../../services/wire/index.js";
import type { CliContext, Runner } from "../context.js";
import { doing, EXIT, failed } from "../errors.js";
import { withProgress } from "../format/progress.js";
import { renderTable } from "../format/table.js";
import { openKv, readModifyWrite } from "../kv.js";
import { each, groupArg, kvPcIdArg } from "../options.js";

export function registerAgentGroups(agent: Command, run: Runner): void {
  const groups = agent
    .command("groups")
    .description("a PC's group memberships (KV agent_groups; kept sorted and unique)");

  groups
    .command("list")
    .description("the groups of one PC, or of every PC")
    .argument("[pc_id]", "the PC (default: all)", kvPcIdArg)
    .action((pcId: string | undefined, _opts: unknown, cmd: Command) =>
      run(cmd, (ctx) => list(ctx, pcId)),
    );

  groups
    .command("add")
    .description("add groups to a PC")
    .argument("<pc_id>", "the PC", kvPcIdArg)
    .argument("<groups...>", "group names", each(groupArg))
    .action((pcId: string, names: string[], _opts: unknown, cmd: Command) =>
      run(cmd, (ctx) => change(ctx, pcId, (cur) => [...cur, ...names])),
    );

  groups
    .command("rm")
    .description("remove groups from a PC")
    .argument("<pc_id>", "the PC", kvPcIdArg)
    .argument("<groups...>", "group names", each(groupArg))
    .action((pcId: string, names: string[], _opts: unknown, cmd: Command) =>
      run(cmd, (ctx) => change(ctx, pcId, (cur) => cur.filter((g) => !names.includes(g)))),
    );

  groups
    .command("set")
    .description("replace a PC's groups (none given: no groups)")
    .argument("<pc_id>", "the PC", kvPcIdArg)
    .argument("[groups...]", "group names", each(groupArg))
    .action((pcId: string, names: string[] | undefined, _opts: unknown, cmd: Command) =>
      run(cmd, (ctx) => change(ctx, pcId, () => names ?? [], { replace: true })),
    );
}

interface GroupsValue {
  raw: Record<string, unknown> | null;
  groups: string[] | null;
  problem?: string;
}

function decodeValue(value: Uint8Array | null): GroupsValue {
  if (value === null) return { raw: null, groups: [] };
  const parsed = parseJson(value);
  const decoded = parsed.ok ? decodeAgentGroups(parsed.value) : parsed;
  if (!decoded.ok || !parsed.ok) {
    return { raw: null, groups: null, problem: decoded.ok ? "not JSON" : decoded.error.message };
  }
  return { raw: parsed.value as Record<string, unknown>, groups: decoded.value.groups };
}

async function change(
  ctx: CliContext,
  pcId: string,
  edit: (current: string[]) => string[],
  opts: { replace?: boolean } = {},
): Promise<number> {
  let after: string[] = [];
  const written = await ctx.withNats(async (nc) => {
    const kv = await openKv(nc, KV_AGENT_GROUPS);
    return readModifyWrite(kv, KV_AGENT_GROUPS, pcId, (entry) => {
      const current = decodeValue(entry === null ? null : entry.value);
      if (current.groups === null && !opts.replace) {
        throw failed(
          `${KV_AGENT_GROUPS}.${pcId} holds a malformed value (${current.problem}); replace it with \`kanade agent groups set\``,
        );
      }
      const before = current.groups ?? [];
      after = normalizeGroups(edit(before));
      if (current.groups !== null && same(before, after)) return { unchanged: true };
      // Members other than `groups` (a later kanade's) are written back as they were.
      return {
        write: JSON.stringify({ ...(current.raw ?? {}), ...encodeAgentGroups({ groups: after }) }),
      };
    });
  });
  if (ctx.json) ctx.printJson({ pc_id: pcId, groups: after, changed: written });
  else
    ctx.print(
      `${pcId}: ${after.length === 0 ? "(no groups)" : after.join(", ")}${written ? "" : " (unchanged)"}`,
    );
  return EXIT.ok;
}

const same = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((g, i) => g === b[i]);

async function list(ctx: CliContext, pcId: string | undefined): Promise<number> {
  const rows = await ctx.withNats((nc) =>
    withProgress(ctx.io, `reading ${KV_AGENT_GROUPS}`, async () => {
      const kv = await openKv(nc, KV_AGENT_GROUPS);
      const keys = pcId === undefined ? await allKeys(kv) : [pcId];
      const out: { pc_id: string; groups: string[] | null; problem?: string }[] = [];
      for (const key of keys) {
        const entry = await doing(`read ${KV_AGENT_GROUPS}.${key}`, () => kv.get(key));
        const live = entry !== null && entry.operation === "PUT" ? entry : null;
        if (live === null && pcId === undefined) continue;
        const v = decodeValue(live === null ? null : live.value);
        out.push({ pc_id: key, groups: v.groups, ...(v.problem ? { problem: v.problem } : {}) });
      }
      return out;
    }),
  );
  for (const r of rows) {
    if (r.problem !== undefined) {
      ctx.warn(
        `${KV_AGENT_GROUPS}.${r.pc_id} is malformed (${r.problem}); the agent uses no groups`,
      );
    }
  }
  if (ctx.json) {
    ctx.printJson(pcId === undefined ? { pcs: rows } : rows[0]);
    return EXIT.ok;
  }
  const show = (g: string[] | null) =>
    g === null ? "(malformed)" : g.length === 0 ? "(no groups)" : g.join(", ");
  if (pcId !== undefined) {
    ctx.print(`${pcId}: ${show(rows[0]?.groups ?? [])}`);
  } else {
    ctx.print(
      renderTable(
        [{ header: "PC" }, { header: "GROUPS" }],
        rows.map((r) => [r.pc_id, show(r.groups)]),
      ),
    );
  }
  return EXIT.ok;
}

async function allKeys(kv: KV): Promise<string[]> {
  const keys: string[] = [];
  await doing(`list ${KV_AGENT_GROUPS}`, async () => {
    for await (const k of await kv.keys()) keys.push(k);
  });
  return keys.sort();
}
