// `kanade ping <pc_id>` and `kanade agent state <pc_id>`: request/reply with one agent.
import { type Msg, type NatsConnection, NoRespondersError } from "@nats-io/nats-core";
import type { Command } from "commander";
import { pingSubject, stateRequestSubject } from "../../services/nats/subjects.js";
import {
  decodeHeartbeat,
  encodeHeartbeat,
  formatTimestamp,
  parseJson,
} from "../../services/wire/index.js";
import type { CliContext, Runner } from "../context.js";
import { EXIT, failed, oneLine } from "../errors.js";
import { startProgress } from "../format/progress.js";
import { durationOption, pcIdArg } from "../options.js";

const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;

export function registerPing(program: Command, run: Runner): void {
  program
    .command("ping")
    .description("ask one agent for a fresh heartbeat (version, host, OS)")
    .argument("<pc_id>", "the PC to ask", pcIdArg)
    .addOption(
      durationOption(
        "--timeout <duration>",
        "how long to wait for the answer",
        DEFAULT_REQUEST_TIMEOUT_MS,
      ),
    )
    .action((pcId: string, opts: { timeout: number }, cmd: Command) =>
      run(cmd, (ctx) => ping(ctx, pcId, opts.timeout)),
    );
}

/** Registered under `kanade agent`. */
export function registerAgentState(agent: Command, run: Runner): void {
  agent
    .command("state")
    .description("ask one agent for its internal state (JSON)")
    .argument("<pc_id>", "the PC to ask", pcIdArg)
    .addOption(
      durationOption(
        "--timeout <duration>",
        "how long to wait for the answer",
        DEFAULT_REQUEST_TIMEOUT_MS,
      ),
    )
    .action((pcId: string, opts: { timeout: number }, cmd: Command) =>
      run(cmd, (ctx) => agentState(ctx, pcId, opts.timeout)),
    );
}

async function ping(ctx: CliContext, pcId: string, timeoutMs: number): Promise<number> {
  const subject = pingSubject(pcId);
  const { msg, rttMs } = await ctx.withNats((nc) => request(ctx, nc, subject, pcId, timeoutMs));
  const parsed = parseJson(msg.data);
  const decoded = parsed.ok ? decodeHeartbeat(parsed.value) : parsed;
  if (!decoded.ok)
    throw failed(`${pcId} answered with an invalid heartbeat: ${decoded.error.message}`);
  const hb = decoded.value;
  if (ctx.json) {
    ctx.printJson({ ...encodeHeartbeat(hb), rtt_ms: rttMs });
    return EXIT.ok;
  }
  const lines = [
    `${hb.pcId}: agent ${hb.agentVersion}, answered in ${rttMs} ms`,
    `  at        ${formatTimestamp(hb.at)}`,
  ];
  if (hb.hostname !== undefined) lines.push(`  hostname  ${hb.hostname}`);
  if (hb.osFamily !== undefined) lines.push(`  os        ${hb.osFamily}`);
  if (hb.quarantinedVersions !== undefined) {
    lines.push(`  quarantined versions  ${hb.quarantinedVersions.join(", ")}`);
  }
  ctx.print(lines.join("\n"));
  return EXIT.ok;
}

async function agentState(ctx: CliContext, pcId: string, timeoutMs: number): Promise<number> {
  const subject = stateRequestSubject(pcId);
  const { msg } = await ctx.withNats((nc) => request(ctx, nc, subject, pcId, timeoutMs));
  const parsed = parseJson(msg.data);
  if (!parsed.ok) {
    // Not JSON: show what came back rather than hide it.
    ctx.print(new TextDecoder().decode(msg.data));
    return EXIT.ok;
  }
  if (ctx.json) ctx.printJson(parsed.value);
  else ctx.print(JSON.stringify(parsed.value, null, 2));
  return EXIT.ok;
}

async function request(
  ctx: CliContext,
  nc: NatsConnection,
  subject: string,
  pcId: string,
  timeoutMs: number,
): Promise<{ msg: Msg; rttMs: number }> {
  const started = ctx.io.clock.monotonic();
  const progress = startProgress(ctx.io, `waiting for ${pcId} on ${subject}`);
  try {
    const msg = await nc.request(subject, new Uint8Array(0), { timeout: timeoutMs });
    return { msg, rttMs: Math.round(ctx.io.clock.monotonic() - started) };
  } catch (err) {
    if (
      err instanceof NoRespondersError ||
      (err instanceof Error && err.cause instanceof NoRespondersError)
    ) {
      throw failed(`no agent answers on ${subject} (${pcId} is offline or unknown)`);
    }
    throw failed(`no answer from ${pcId} on ${subject}: ${oneLine(err)}`, err);
  } finally {
    progress.stop();
  }
}
