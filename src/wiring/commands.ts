import { randomUUID } from "node:crypto";
import { homedir } from "node:os";
import { join } from "node:path";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { fromCallback, fromPromise } from "xstate";
import {
  type CommandEvent,
  commandMachine,
  type Launch,
  type ReportInput,
} from "../machines/command.machine.js";
import type { AgentContext } from "../services/agentContext.js";
import type { GateReads } from "../services/commands/gateReads.js";
import { evaluateGates, type KvLookup } from "../services/commands/gates.js";
import type { HandOvers } from "../services/commands/handOvers.js";
import type { Ledger } from "../services/commands/ledger.js";
import { runResult, syntheticResult } from "../services/commands/report.js";
import type { Slots } from "../services/commands/slots.js";
import {
  buildInvocation,
  type RunHandle,
  resolveCwd,
  type Spawner,
  startRun,
} from "../services/exec/index.js";
import { failedToStartNote } from "../services/exec/notes.js";
import { openExistingBucket } from "../services/kv/bucket.js";
import { lazyChild } from "../services/logging/lazyChild.js";
import { wakeableSleep } from "../services/nats/retry.js";
import type { OutboxKind } from "../services/outbox/drainer.js";
import type { OutboxStore } from "../services/outbox/store.js";
import { encodeEventStarted } from "../services/wire/index.js";
import type { Command } from "../services/wire/types.js";

export interface CommandDeps {
  ctx: AgentContext;
  ledger: Ledger;
  slots: Slots;
  /** The gate reads, shared with the prefetch at dispatch. */
  gateReads: GateReads;
  results: OutboxStore;
  events: OutboxStore;
  /**
   * Publishes a result held by the ledger (no outbox file); true once the broker acked it. Absent
   * (tests, or disabled): every result goes through an outbox file first.
   */
  publishResult?: (
    raw: string,
    complete?: { requestId: string; resultId: string },
  ) => Promise<boolean>;
  /** Where the results published from memory are tracked, for the stop sequence to wait on. */
  handOvers?: HandOvers;
  /** A result or event file was written: publish it now rather than at the next drain pass. */
  publishNow?: (kind: OutboxKind, name: string) => void;
  /** Who forks the children (the spawn helper on POSIX); the agent's own process when absent. */
  spawner?: Spawner;
  /** Told once the result of a request is durable (local scheduler completions). */
  onResult?: (requestId: string, exitCode: number, finishedAt: number) => void;
}

const KV_READ_TIMEOUT_MS = 2_000;
/** Results up to this size are held by the ledger line instead of an outbox file first. */
export const HELD_RESULT_MAX_BYTES = 256 * 1024;
/** Node timers fire at once beyond 2^31−1 ms; longer waits are taken in laps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const lap = (ms: number): number => Math.min(MAX_TIMER_MS, Math.max(0, ms));

/**
 * behavior.md 5.8: a gate read that fails or takes over 2 s means "no entry" (pass). Bucket
 * handles are kept per connection: opening one costs a JetStream round trip per command.
 */
export function kvLookup(ctx: AgentContext): KvLookup {
  let handles: { nc: NatsConnection; buckets: Map<string, Promise<KV>> } | null = null;
  const bucket = (nc: NatsConnection, name: string): Promise<KV> => {
    if (handles?.nc !== nc) handles = { nc, buckets: new Map() };
    let kv = handles.buckets.get(name);
    if (!kv) {
      kv = openExistingBucket(nc, name).then((b) => b.kv);
      handles.buckets.set(name, kv);
      kv.catch(() => handles?.buckets.delete(name));
    }
    return kv;
  };
  return async (name, key) => {
    const nc = ctx.link.connection;
    if (!nc || !ctx.link.isConnected) return null;
    const read = (async () => {
      const e = await (await bucket(nc, name)).get(key);
      return e && e.operation === "PUT" ? e.string() : null;
    })();
    const timeout = new Promise<null>((r) => setTimeout(() => r(null), KV_READ_TIMEOUT_MS).unref());
    return Promise.race([read.catch(() => null), timeout]);
  };
}

/** The lines about one command carry its ids (made only when a line is written). */
function commandLog(
  ctx: AgentContext,
  requestId: string,
  cmd: Command | null,
  launch?: Launch | null,
): AgentContext["log"] {
  return lazyChild(ctx.log, {
    request_id: requestId,
    exec_id: cmd?.execId ?? undefined,
    result_id: launch?.resultId,
    manifest_id: cmd?.id,
  });
}

/** The command chart with the real services (design.md: machines decide, services do). */
export function commandActorLogic(deps: CommandDeps) {
  const { ctx, ledger, gateReads } = deps;
  // Read once: every lookup in process.env is a call into the C library, per spawn.
  const env = { ...process.env };
  return commandMachine.provide({
    actors: {
      evaluateGates: fromPromise(({ input }) =>
        evaluateGates(input.command, input.receivedAt, {
          platform: ctx.platform,
          staleness: ctx.staleness,
          readKv: (bucket, key, asker) => gateReads.get(bucket, key, asker),
          clock: ctx.clock,
        }),
      ),
      acquireSlot: fromPromise(({ input, signal }) => deps.slots.acquire(input.requestId, signal)),
      launch: fromPromise(async ({ input }) => {
        const { command, requestId } = input;
        const startedAt = ctx.clock.now();
        const jitterMs =
          command.jitterSecs && command.jitterSecs > 0
            ? Math.floor(ctx.random() * command.jitterSecs) * 1000
            : 0;
        const launch: Launch = { resultId: randomUUID(), startedAt, spawnAt: startedAt + jitterMs };
        await ledger.markLaunching(requestId, launch, { running: jitterMs === 0 });
        if (command.execId) {
          const name = await deps.events.write(
            encodeEventStarted({
              resultId: launch.resultId,
              requestId,
              execId: command.execId,
              pcId: ctx.pcId,
              startedAt,
              manifestId: command.id,
              version: command.version,
            }),
          );
          deps.publishNow?.("event", name);
        }
        commandLog(ctx, requestId, command, launch).info(
          { jitter_ms: jitterMs },
          "command launched",
        );
        return launch;
      }),
      run: fromCallback<CommandEvent, { requestId: string; command: Command; launch: Launch }>(
        ({ input, sendBack, receive }) => runChild(deps, env, input, sendBack, receive),
      ),
      report: fromPromise(({ input, signal }) => report(deps, input, signal)),
    },
    actions: {
      // By name, not by `holdsSlot`: a slot granted while the command was giving up waiting
      // (stopped in the same turn) is given back too.
      releaseSlot: ({ context }) => deps.slots.release(context.requestId),
      killReceived: ({ context }) =>
        commandLog(ctx, context.requestId, context.command, context.launch).info("kill received"),
    },
    guards: {
      spawnDue: ({ context }) => ctx.clock.now() >= (context.launch?.spawnAt ?? 0),
      launchDue: ({ event }) =>
        ctx.clock.now() >= ((event as { output?: Launch }).output?.spawnAt ?? 0),
      deadlinePassed: ({ context }) =>
        ctx.clock.now() > (context.command?.deadlineAt ?? Number.POSITIVE_INFINITY),
    },
    delays: {
      untilSpawn: ({ context }) => lap((context.launch?.spawnAt ?? 0) - ctx.clock.now()),
      untilDeadline: ({ context }) => {
        const d = context.command?.deadlineAt;
        return d === undefined ? MAX_TIMER_MS : lap(d - ctx.clock.now() + 1);
      },
    },
  });
}

function runChild(
  deps: CommandDeps,
  env: NodeJS.ProcessEnv,
  input: { requestId: string; command: Command; launch: Launch },
  sendBack: (e: CommandEvent) => void,
  receive: (listener: (e: CommandEvent) => void) => void,
): () => void {
  const { ctx } = deps;
  const { command, launch, requestId } = input;
  let handle: RunHandle | null = null;
  let pending: "remote" | "stopping" | null = null;
  let ended = false;
  receive((e) => {
    const reason = e.type === "KILL" ? "remote" : e.type === "AGENT_STOPPING" ? "stopping" : null;
    if (!reason) return;
    if (handle) handle.kill(reason, reason === "stopping" ? 1_500 : undefined);
    else pending = reason;
  });
  void (async () => {
    // Without jitter the launch already wrote `running`: no turn of the event loop for nothing.
    if (deps.ledger.lookup(requestId)?.state !== "running")
      await deps.ledger.markRunning(requestId);
    const scriptDir = join(ctx.layout.scripts, launch.resultId);
    const invocation = buildInvocation({
      shell: command.shell,
      script: command.script,
      platform: ctx.platform,
      scriptDir,
    });
    const cwd = resolveCwd(command.cwd, {
      platform: ctx.platform,
      env,
      homedir: homedir(),
    });
    const intent = deps.ledger.takeSpawnIntent(requestId);
    handle = startRun({
      intent,
      invocation,
      cwd,
      env,
      scriptDir,
      timeoutMs: command.timeoutSecs * 1000,
      execId: command.execId ?? undefined,
      platform: ctx.platform,
      spawner: deps.spawner,
      logger: commandLog(ctx, requestId, command, launch),
    });
    if (pending) handle.kill(pending, pending === "stopping" ? 1_500 : undefined);
    if (intent) {
      void handle.started.then((pid) => {
        if (pid !== undefined) deps.ledger.spawnIntentWritten(requestId);
      });
    }
    const outcome = await handle.done;
    ended = true;
    sendBack({ type: "EXITED", outcome });
  })().catch((err: unknown) => {
    ended = true;
    const reason = err instanceof Error ? err.message : String(err);
    const empty = { head: Buffer.alloc(0), tail: Buffer.alloc(0), droppedBytes: 0, totalBytes: 0 };
    sendBack({
      type: "EXITED",
      outcome: {
        exitCode: 120,
        stdout: empty,
        stderr: empty,
        notes: [failedToStartNote(reason)],
        failedToStart: reason,
        finishedAt: ctx.clock.now(),
      },
    });
  });
  // Stopped from outside while the child runs (process exit path): leave nothing behind.
  return () => {
    if (!ended) handle?.kill("stopping", 0);
  };
}

async function report(deps: CommandDeps, input: ReportInput, signal: AbortSignal): Promise<void> {
  const { ctx } = deps;
  const cmd = input.command;
  const now = ctx.clock.now();
  const facts = {
    pcId: ctx.pcId,
    requestId: input.requestId,
    execId: cmd?.execId ?? input.rejection?.execId ?? null,
    manifestId: cmd?.id ?? input.rejection?.manifestId,
    resultId: input.launch?.resultId,
    startedAt: input.launch?.startedAt,
    receivedAt: input.receivedAt,
    deadlineAt: cmd?.deadlineAt,
    now,
  };
  const file =
    input.outcome && !input.skip
      ? runResult(facts, input.outcome)
      : syntheticResult(facts, input.skip?.exitCode ?? -1, input.skip?.note);
  const exitCode = file.payload.exit_code as number;
  const finishedAt = input.outcome?.finishedAt ?? now;
  const log = lazyChild(ctx.log, {
    request_id: input.requestId,
    exec_id: facts.execId ?? undefined,
    result_id: file.payload.result_id,
  });

  // 6.8: an admission that never reached the disk was not an admission: no result for it.
  try {
    await deps.ledger.durable(input.requestId);
  } catch (err) {
    log.error(
      { err: err instanceof Error ? err.message : String(err) },
      "command dropped without a result: its admission could not be recorded",
    );
    return;
  }

  const raw = JSON.stringify({ ...file.payload, ...file.privateMembers });
  if (deps.publishResult && Buffer.byteLength(raw) <= HELD_RESULT_MAX_BYTES) {
    // The `finished` line holds the result: one journal sync makes both durable, where a result
    // file costs two fsyncs. Published from memory, then written to the outbox only if the
    // broker did not take it. Retried until written, like the file below.
    await untilWritten("ledger record", log, signal, () =>
      deps.ledger.markFinished(input.requestId, { finishedAt, exitCode, result: raw }),
    );
    deps.handOvers?.track(handOverResult(deps, input.requestId, raw, file, log));
  } else {
    // 6.7: the result file exists before the record says finished. A full or failing disk must
    // not lose the result: both writes are retried until they succeed (or the agent stops, and
    // the next start reports the run from the ledger).
    const name = await untilWritten("result file", log, signal, () =>
      deps.results.write(file.payload, file.privateMembers),
    );
    deps.publishNow?.("result", name);
    await untilWritten("ledger record", log, signal, () =>
      deps.ledger.markFinished(input.requestId, { finishedAt, exitCode }),
    );
  }
  log.info(
    { exit_code: exitCode, duration_ms: finishedAt - (facts.startedAt ?? now) },
    "command finished",
  );
  deps.onResult?.(input.requestId, exitCode, finishedAt);
}

/**
 * A result the ledger holds: published now, or put in the outbox for the drain when the broker
 * does not take it; either way the record lets go of it. If the agent stops first, the next
 * start moves it to the outbox (recovery).
 */
async function handOverResult(
  deps: CommandDeps,
  requestId: string,
  raw: string,
  file: { payload: Record<string, unknown>; privateMembers: Record<string, unknown> },
  log: AgentContext["log"],
): Promise<void> {
  try {
    // Nothing private to move to the object store: the bytes are the ExecResult as published.
    const complete =
      Object.keys(file.privateMembers).length === 0
        ? { requestId, resultId: String(file.payload.result_id ?? "") }
        : undefined;
    if (!(await deps.publishResult!(raw, complete))) {
      await untilWritten("result file", log, new AbortController().signal, () =>
        deps.results.write(file.payload, file.privateMembers),
      );
    }
    await deps.ledger.releaseResult(requestId);
  } catch (err) {
    log.warn(
      { err: err instanceof Error ? err.message : String(err) },
      "result hand-over interrupted; the next start moves it to the outbox",
    );
  }
}

/** Retries a local write (1 s doubling to 30 s), logging the first failure and every tenth. */
async function untilWritten<T>(
  what: string,
  log: AgentContext["log"],
  signal: AbortSignal,
  write: () => Promise<T>,
): Promise<T> {
  for (let failures = 0; ; failures++) {
    try {
      const written = await write();
      if (failures > 0) log.info({ failures }, `${what} written after ${failures} failed attempts`);
      return written;
    } catch (err) {
      if (signal.aborted) throw err;
      if (failures % 10 === 0)
        log.error(
          { err: err instanceof Error ? err.message : String(err), failures: failures + 1 },
          `cannot write the ${what} (disk full or not writable?); retrying, the result is kept in memory`,
        );
      await wakeableSleep(Math.min(1_000 * 2 ** Math.min(failures, 5), 30_000), undefined, signal);
    }
  }
}
