import type { JsMsg } from "@nats-io/jetstream";
import { Subject } from "rxjs";
import { fromPromise } from "xstate";
import { replayMachine } from "../machines/replay.machine.js";
import type { AgentContext } from "../services/agentContext.js";
import type { IntakeMessage } from "../services/commands/intake.js";
import {
  checkExecStream,
  consumeReplay,
  ensureReplayConsumer,
} from "../services/nats/replayConsumer.js";
import { retryForever } from "../services/nats/retry.js";

/** The replay chart with the real consumer (behavior.md §9); messages go to `messages$`. */
export function replayActorLogic(deps: {
  ctx: AgentContext;
  ledgerIsEmpty: () => boolean;
  /** Resolves once the group membership is known: replay must not judge group subjects before. */
  membershipKnown: Promise<void>;
  signal: AbortSignal;
}) {
  const { ctx } = deps;
  const log = ctx.log.child({ component: "replay" });
  const messages$ = new Subject<IntakeMessage>();
  const retry = <T>(what: string, attempt: () => Promise<T>) =>
    retryForever(attempt, {
      what,
      log,
      random: ctx.random,
      wake$: ctx.link.woken$,
      signal: deps.signal,
    });
  const connected = async () => {
    const nc = await ctx.link.waitConnected(5_000);
    if (!nc) throw new Error("not connected");
    return nc;
  };
  const toIntake = (m: JsMsg): IntakeMessage => ({
    source: "replay",
    subject: m.subject,
    data: m.data,
    headers: m.headers,
    receivedAt: ctx.clock.now(),
    ack: () => m.ack(),
  });

  const logic = replayMachine.provide({
    actors: {
      waitForStream: fromPromise(async () => {
        await deps.membershipKnown;
        await retry("stream EXEC", async () => checkExecStream(await connected()));
      }),
      ensureConsumer: fromPromise(async () => {
        const r = await retry("replay consumer", async () =>
          ensureReplayConsumer(await connected(), ctx.pcId, deps.ledgerIsEmpty),
        );
        log.info({ outcome: r.outcome, deliver_policy: r.deliverPolicy }, "replay consumer ready");
      }),
      drain: fromPromise(async ({ signal }) => {
        const nc = await connected();
        const run = consumeReplay(nc, ctx.pcId, (m) => messages$.next(toIntake(m)));
        signal.addEventListener("abort", run.stop, { once: true });
        return run.done;
      }),
    },
    actions: {
      reportEnd: (_, { reason }) => log.warn({ reason }, "replay consumer ended; re-opening"),
    },
  });
  return { logic, messages$ };
}
