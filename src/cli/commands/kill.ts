// `kanade kill <exec_id>` and `kanade revoke|unrevoke <manifest_id>`.
import type { Command } from "commander";
import { KV_SCRIPT_STATUS, killSubject } from "../../services/nats/subjects.js";
import type { CliContext, Runner } from "../context.js";
import { doing, EXIT } from "../errors.js";
import { openKv } from "../kv.js";
import { keyArg, tokenArg } from "../options.js";

/** `script_status` values (wire §5): only the exact `REVOKED` revokes. */
export const STATUS_REVOKED = "REVOKED";
export const STATUS_ACTIVE = "ACTIVE";

export function registerKill(program: Command, run: Runner): void {
  program
    .command("kill")
    .description("kill every run with this exec_id, on every agent (kill.<exec_id>)")
    .argument("<exec_id>", "the exec_id of the runs to kill", tokenArg)
    .action((execId: string, _opts: unknown, cmd: Command) => run(cmd, (ctx) => kill(ctx, execId)));

  program
    .command("revoke")
    .description("stop agents from running a manifest (script_status = REVOKED)")
    .argument("<manifest_id>", "the manifest id (the Command's id)", keyArg)
    .action((id: string, _opts: unknown, cmd: Command) =>
      run(cmd, (ctx) => setStatus(ctx, id, STATUS_REVOKED)),
    );

  program
    .command("unrevoke")
    .description("allow a revoked manifest again (script_status = ACTIVE)")
    .argument("<manifest_id>", "the manifest id (the Command's id)", keyArg)
    .action((id: string, _opts: unknown, cmd: Command) =>
      run(cmd, (ctx) => setStatus(ctx, id, STATUS_ACTIVE)),
    );
}

async function kill(ctx: CliContext, execId: string): Promise<number> {
  const subject = killSubject(execId);
  await ctx.withNats((nc) =>
    doing(`publish ${subject}`, async () => {
      nc.publish(subject);
      await nc.flush();
    }),
  );
  if (ctx.json) ctx.printJson({ exec_id: execId, subject });
  else ctx.print(`sent ${subject} (agents running exec_id ${execId} kill those runs)`);
  return EXIT.ok;
}

async function setStatus(ctx: CliContext, id: string, status: string): Promise<number> {
  const revision = await ctx.withNats(async (nc) => {
    const kv = await openKv(nc, KV_SCRIPT_STATUS);
    return doing(`write ${KV_SCRIPT_STATUS}.${id}`, () => kv.put(id, status));
  });
  if (ctx.json) ctx.printJson({ manifest_id: id, status, revision });
  else ctx.print(`${KV_SCRIPT_STATUS}.${id} = ${status}`);
  return EXIT.ok;
}
