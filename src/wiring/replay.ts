import type { JsMsg } from "@nats-io/jetstream";
import { Subject } from "rxjs";
import { fromPromise } from "xstate";
import { type DrainEnd, replayMachine } from "../machines/replay.machine.js";
import type { AgentContext } from "../services/agentContext.js";
import type { IntakeMessage } from "../services/commands/intake.js";
import {
  checkExecStream,
  consumeReplay,
  ensureReplayConsumer,
  isNotFound,
  readUnacked,
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
  /** A replayed message; one read back by sequence has no ack (its redelivery is acked). */
  const toIntake = (
    m: Pick<IntakeMessage, "subject" | "data" | "headers">,
    ack?: () => void,
  ): IntakeMessage => ({
    source: "replay",
    subject: m.subject,
    data: m.data,
    headers: m.headers,
    receivedAt: ctx.clock.now(),
    ack,
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
      readUnacked: fromPromise(async () => {
        try {
          const nc = await connected();
          const r = await readUnacked(nc, ctx.pcId, (m) => messages$.next(toIntake(m)));
          if (r.read + r.gone + r.left > 0)
            log.info(
              { read: r.read, gone: r.gone, left_to_ack_wait: r.left },
              "read back commands the durable handed out to a pull nobody acks (a previous process's or a lost connection's)",
            );
        } catch (err) {
          // No durable (broker restarted empty, consumer deleted): nothing was handed out; the
          // drain fails in turn and the chart re-opens.
          if (isNotFound(err)) return;
          log.warn(
            { err: err instanceof Error ? err.message : String(err) },
            "cannot read back unacked commands; they come again after the ack wait",
          );
        }
      }),
      drain: fromPromise(async ({ signal }): Promise<DrainEnd> => {
        const nc = await connected();
        const run = consumeReplay(nc, ctx.pcId, (m: JsMsg) =>
          messages$.next(toIntake(m, () => m.ack())),
        );
        signal.addEventListener("abort", () => run.stop(), { once: true });
        // The pull of the lost connection may have been handed commands nobody will ack; and a
        // fresh pull is quicker than the client's own recovery (a missed heartbeat, ~15 s).
        let reconnected = false;
        const sub = ctx.link.woken$.subscribe(() => {
          reconnected = true;
          run.stop("reconnected");
        });
        try {
          const end = await run.done;
          if (reconnected)
            log.info("connection back: reading back unacked commands, pulling again");
          return { ...end, reconnected };
        } finally {
          sub.unsubscribe();
        }
      }),
    },
    actions: {
      reportEnd: (_, { reason }) => log.warn({ reason }, "replay consumer ended; re-opening"),
    },
  });
  return { logic, messages$ };
}
