// `kanade run <pc_id> -- <script…>`: send one ad-hoc Command to a PC, wait for its result,
// print the output and exit with the script's exit code.
import { type NatsConnection, headers as natsHeaders } from "@nats-io/nats-core";
import { Objm } from "@nats-io/obj";
import { type Command as CommanderCommand, Option } from "commander";
import { commandsPc, OBJ_RESULT_OUTPUT, resultSubject } from "../../services/nats/subjects.js";
import { buildEnvelopeV2, signCommandBody } from "../../services/signing/index.js";
import {
  type Command,
  decodeExecResult,
  type ExecResult,
  encodeCommand,
  encodeExecResult,
  parseJson,
  SHELLS,
  type Shell,
} from "../../services/wire/index.js";
import type { CliContext, Runner } from "../context.js";
import { CliError, EXIT, failed, oneLine, usageError } from "../errors.js";
import { startProgress } from "../format/progress.js";
import { formatAge } from "../format/units.js";
import { durationOption, pcIdArg, tokenArg } from "../options.js";
import { type PrivateKey, readPrivateKey } from "./keys.js";

export const ADHOC_MANIFEST_ID = "adhoc-run";
export const ADHOC_VERSION = "0.0.0";
/** How much longer than the script's own timeout the CLI waits for the result. */
export const RESULT_GRACE_MS = 10_000;
/** Ctrl-C while waiting (128 + SIGINT, as shells report it). */
export const EXIT_INTERRUPTED = 130;
const DEFAULT_TIMEOUT_MS = 60_000;
/** How long a signed envelope stays valid by default (`--expires`). */
export const DEFAULT_ENVELOPE_EXPIRY_MS = 10 * 60_000;

interface RunOptions {
  shell: Shell;
  timeout: number;
  execId?: string | true;
  key?: string;
  envelope?: boolean;
  expires: number;
}

/** How a published command is signed, decided from the options before connecting. */
export interface SigningPlan {
  key: PrivateKey;
  /** Envelope validity from the moment of publishing; undefined = legacy headers only. */
  envelopeMs?: number;
}

/**
 * The signing options shared by every verb that publishes a command (today only `run`):
 * `--key`, `--envelope`, `--expires`. Read them back with `signingPlan`.
 */
export function addSigningOptions(cmd: CommanderCommand): CommanderCommand {
  return cmd
    .option(
      "--key <file>",
      "sign the command with this private key (from `kanade keys generate`); agents with " +
        "[signing] require = true refuse unsigned commands with exit 123",
    )
    .option(
      "--envelope",
      "sign a v2 envelope bound to the target pc_id and valid until --expires, so the signed " +
        "command cannot be replayed to another PC or later (needs --key; agents with " +
        "require_envelope = true accept only this)",
    )
    .addOption(
      durationOption(
        "--expires <duration>",
        "with --envelope: how long the signed command stays valid after it is sent",
        DEFAULT_ENVELOPE_EXPIRY_MS,
      ),
    );
}

/** The signing asked for by `addSigningOptions`' options; reads the key file (exit 1 if bad). */
export async function signingPlan(
  ctx: CliContext,
  cmd: CommanderCommand,
  opts: { key?: string; envelope?: boolean; expires: number },
): Promise<SigningPlan | undefined> {
  const expiresGiven = cmd.getOptionValueSource("expires") !== "default";
  if (opts.key === undefined) {
    if (opts.envelope === true) throw usageError("--envelope needs --key <private key file>");
    if (expiresGiven) throw usageError("--expires needs --envelope and --key");
    return undefined;
  }
  if (opts.envelope !== true) {
    if (expiresGiven) throw usageError("--expires needs --envelope");
    return { key: await readPrivateKey(ctx, opts.key) };
  }
  if (opts.expires <= 0) throw usageError("--expires must be longer than 0s");
  return { key: await readPrivateKey(ctx, opts.key), envelopeMs: opts.expires };
}

/**
 * The message for `command` to `pcId`: the body and, when signing, the signature headers over
 * exactly these bytes, signed now.
 */
export function commandMessage(
  command: Command,
  pcId: string,
  plan: SigningPlan | undefined,
  nowMs: number,
): { body: string; headers?: Record<string, string> } {
  if (plan === undefined) return { body: JSON.stringify(encodeCommand(command)) };
  const body =
    plan.envelopeMs === undefined
      ? JSON.stringify(encodeCommand(command))
      : buildEnvelopeV2(command, pcId, nowMs + plan.envelopeMs);
  return { body, headers: signCommandBody(body, plan.key.seed, plan.key.kid, nowMs) };
}

export function registerRun(program: CommanderCommand, run: Runner): void {
  const verb = program
    .command("run")
    .description("run a script on one PC, print its output and exit with its exit code")
    .argument("<pc_id>", "the PC to run on", pcIdArg)
    .argument("[script...]", "the script; put it after `--` (words are joined with spaces)")
    .addOption(
      new Option("--shell <shell>", "interpreter on the PC").choices(SHELLS).default("powershell"),
    )
    .addOption(
      durationOption(
        "--timeout <duration>",
        "kill the script after this long (humantime: 30s, 5m); the CLI waits 10 s more",
        DEFAULT_TIMEOUT_MS,
      ),
    )
    .option(
      "--exec-id [id]",
      "give the run an exec_id (a new UUID unless one is given) so `kanade kill` can stop it",
      tokenArg,
    );
  addSigningOptions(verb)
    .addHelpText(
      "after",
      [
        "",
        "Exit codes: the script's own code when it is 0–255 (the agent's synthetic codes",
        "120–127 included); 1 for any other code (-1 = killed or timed out, codes outside",
        "0–255); 119 when no result arrived within timeout + 10 s (the command stays queued",
        "in EXEC and may still run later); 130 on Ctrl-C; 2 usage; 3 cannot connect.",
        "",
        "A refused signature shows as exit 123 with `refused: command signature <why>`",
        "(unsigned, unknown key <kid>, envelope required, expired, …).",
        "",
        "Example: kanade run PC1234 --shell sh --timeout 30s -- 'uname -a; df -h'",
        "         kanade run PC1234 --key ~/.kanade/ops.key --envelope --expires 5m -- hostname",
      ].join("\n"),
    )
    .action((pcId: string, script: string[], opts: RunOptions, cmd: CommanderCommand) =>
      run(cmd, (ctx) => runScript(ctx, cmd, pcId, script, opts)),
    );
}

/** The script's exit code as a process exit status: 0–255 as is, anything else 1. */
export function passthroughExitCode(code: number): number {
  return Number.isInteger(code) && code >= 0 && code <= 255 ? code : EXIT.failed;
}

async function runScript(
  ctx: CliContext,
  cmd: CommanderCommand,
  pcId: string,
  words: string[],
  opts: RunOptions,
): Promise<number> {
  if (words.length === 0) {
    throw new CliError(
      EXIT.usage,
      "no script given (put it after `--`: kanade run PC1 -- hostname)",
    );
  }
  const signing = await signingPlan(ctx, cmd, opts);
  const requestId = ctx.io.newId();
  const execId =
    opts.execId === undefined ? null : opts.execId === true ? ctx.io.newId() : opts.execId;
  const command: Command = {
    id: ADHOC_MANIFEST_ID,
    version: ADHOC_VERSION,
    requestId,
    execId,
    shell: opts.shell,
    script: words.join(" "),
    timeoutSecs: Math.max(1, Math.ceil(opts.timeout / 1000)),
    jitterSecs: null,
    runAs: "system",
    staleness: { mode: "cached" },
  };
  const waitMs = command.timeoutSecs * 1000 + RESULT_GRACE_MS;

  return ctx.withNats(async (nc) => {
    const outcome = await sendAndWait(ctx, nc, command, pcId, waitMs, signing);
    if (outcome.kind === "interrupted") {
      ctx.io.stderr.write(
        `kanade: interrupted; request ${requestId} was sent and may still run on ${pcId}${
          execId === null ? "" : ` (stop it with: kanade kill ${execId})`
        }\n`,
      );
      return EXIT_INTERRUPTED;
    }
    if (outcome.kind === "timeout") {
      throw new CliError(
        EXIT.runNoResult,
        `no result from ${pcId} within ${formatAge(waitMs)} (request ${requestId}); the command stays queued in EXEC and may still run when the agent is back`,
      );
    }
    if (outcome.kind === "lost") {
      throw failed(
        `connection lost while waiting for the result of ${requestId}: ${outcome.reason}`,
      );
    }
    const result = outcome.result;
    const stdout = await streamText(ctx, nc, result.stdout, result.stdoutObject);
    const stderr = await streamText(ctx, nc, result.stderr, result.stderrObject);
    if (ctx.json) {
      ctx.printJson({ ...encodeExecResult(result), stdout, stderr });
    } else {
      ctx.io.stdout.write(stdout);
      ctx.io.stderr.write(stderr);
    }
    return passthroughExitCode(result.exitCode);
  });
}

type Outcome =
  | { kind: "result"; result: ExecResult }
  | { kind: "timeout" }
  | { kind: "interrupted" }
  | { kind: "lost"; reason: string };

async function sendAndWait(
  ctx: CliContext,
  nc: NatsConnection,
  command: Command,
  pcId: string,
  waitMs: number,
  signing: SigningPlan | undefined,
): Promise<Outcome> {
  const started = ctx.io.clock.monotonic();
  const progress = startProgress(
    ctx.io,
    () =>
      `waiting for ${pcId} (request ${command.requestId}) ${formatAge(ctx.io.clock.monotonic() - started)}`,
  );
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  // A core subscription sees the agent's JetStream publish too; it must exist before the
  // command goes out, or a fast agent's result would be missed.
  const subject = resultSubject(command.requestId);
  let settle: (o: Outcome) => void = () => {};
  const outcome = new Promise<Outcome>((resolve) => {
    settle = resolve;
  });
  const sub = nc.subscribe(subject, {
    callback: (err, msg) => {
      if (err) return;
      const parsed = parseJson(msg.data);
      const decoded = parsed.ok ? decodeExecResult(parsed.value) : parsed;
      if (!decoded.ok) {
        ctx.warn(`ignored an undecodable result on ${subject}: ${decoded.error.message}`);
        return;
      }
      if (decoded.value.pcId !== pcId) {
        ctx.warn(`ignored a result from ${decoded.value.pcId} on ${subject}`);
        return;
      }
      settle({ kind: "result", result: decoded.value });
    },
  });
  try {
    timer = setTimeout(() => settle({ kind: "timeout" }), waitMs);
    onAbort = () => settle({ kind: "interrupted" });
    if (ctx.io.signal.aborted) onAbort();
    ctx.io.signal.addEventListener("abort", onAbort, { once: true });
    try {
      const message = commandMessage(command, pcId, signing, ctx.io.clock.now());
      const h = message.headers === undefined ? undefined : natsHeaders();
      for (const [name, value] of Object.entries(message.headers ?? {})) h?.set(name, value);
      nc.publish(commandsPc(pcId), message.body, h === undefined ? undefined : { headers: h });
      await nc.flush();
    } catch (err) {
      throw failed(`publish to ${commandsPc(pcId)}: ${oneLine(err)}`, err);
    }
    void nc.closed().then((err) => settle({ kind: "lost", reason: err ? oneLine(err) : "closed" }));
    return await outcome;
  } finally {
    clearTimeout(timer);
    if (onAbort) ctx.io.signal.removeEventListener("abort", onAbort);
    progress.stop();
    sub.unsubscribe();
  }
}

/** The text of one stream; when the agent moved it to `result_output`, the object's content. */
async function streamText(
  ctx: CliContext,
  nc: NatsConnection,
  inline: string,
  objectKey: string | undefined,
): Promise<string> {
  if (objectKey === undefined) return inline;
  try {
    const os = await new Objm(nc).open(OBJ_RESULT_OUTPUT);
    const data = await os.getBlob(objectKey);
    if (data === null) throw new Error("no such object");
    return new TextDecoder().decode(data);
  } catch (err) {
    ctx.warn(`could not read ${OBJ_RESULT_OUTPUT}/${objectKey}: ${oneLine(err)}`);
    return inline;
  }
}
