import type { AnyActorRef } from "xstate";
import type { AgentContext } from "../services/agentContext.js";
import type { Ledger } from "../services/commands/ledger.js";
import { stateRequestSubject } from "../services/nats/subjects.js";
import type { OutboxStore } from "../services/outbox/store.js";
import { startJsonResponder } from "../services/responders/jsonResponder.js";
import { encodeAgentState, stateValueText } from "../services/wire/agentState.js";

/** `agents.<pc_id>.state`: every actor's state, outbox depth, ledger size, running commands. */
export function startStateResponder(deps: {
  ctx: AgentContext;
  root: () => AnyActorRef;
  ledger: Ledger;
  results: OutboxStore;
  events: OutboxStore;
}) {
  const { ctx } = deps;
  return startJsonResponder({
    link: ctx.link,
    subject: stateRequestSubject(ctx.pcId),
    log: ctx.log,
    build: async () => {
      const root = deps.root();
      const snap = root.getSnapshot();
      const actors: Record<string, string> = { agent: stateValueText(snap.value) };
      let live = 0;
      let running = 0;
      let waiting = 0;
      for (const [id, child] of Object.entries(
        snap.children as Record<string, AnyActorRef | undefined>,
      )) {
        const raw = child?.getSnapshot().value;
        if (raw === undefined) continue; // callback actors have no states to show
        const value = stateValueText(raw);
        actors[id] = value;
        if (!id.startsWith("command#")) continue;
        live++;
        if (value.startsWith("active.running")) running++;
        if (value === "active.queued.waiting") waiting++;
      }
      return encodeAgentState({
        pcId: ctx.pcId,
        agentVersion: ctx.agentVersion,
        at: ctx.clock.now(),
        actors,
        connected: ctx.link.isConnected,
        commands: { live, running, waitingForSlot: waiting },
        outbox: { results: await deps.results.count(), events: await deps.events.count() },
        ledger: { records: deps.ledger.size, unfinished: deps.ledger.unfinished().length },
        groups: ctx.membership$.value,
        effectiveConfig: ctx.config$.value,
      });
    },
  });
}
