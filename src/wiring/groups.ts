import type { BehaviorSubject } from "rxjs";
import { fromCallback, fromPromise } from "xstate";
import { groupsMachine } from "../machines/groups.machine.js";
import type { AgentContext } from "../services/agentContext.js";
import { type OpenBucket, waitForBucket } from "../services/kv/bucket.js";
import { interpretGroupsEntry, readMembership } from "../services/kv/groupsRead.js";
import { WarnThrottle } from "../services/kv/warnThrottle.js";
import { followKv } from "../services/kv/watch.js";
import { backoffMs } from "../services/nats/retry.js";
import { KV_AGENT_GROUPS } from "../services/nats/subjects.js";

/** What the groups manager needs of the agent. */
export type GroupsDeps = Pick<
  AgentContext,
  "pcId" | "pcIdKvSafe" | "link" | "log" | "clock" | "random" | "membership$"
>;

interface Known {
  promise: Promise<void>;
  resolve: () => void;
}

// Keyed by the agent's membership subject: one per agent, whoever asks first.
const known = new WeakMap<BehaviorSubject<readonly string[]>, Known>();

function knownFor(ctx: Pick<AgentContext, "membership$">): Known {
  let k = known.get(ctx.membership$);
  if (!k) {
    let resolve: () => void = () => {};
    const promise = new Promise<void>((r) => {
      resolve = r;
    });
    k = { promise, resolve };
    known.set(ctx.membership$, k);
  }
  return k;
}

/**
 * Resolves once the groups manager of this agent finished its first read of `agent_groups`
 * (whatever it found), or at once when the pc_id cannot be a KV key: from then on
 * `ctx.membership$` is the real membership. The replay consumer waits for it before it starts.
 */
export function membershipKnown(ctx: Pick<AgentContext, "membership$">): Promise<void> {
  return knownFor(ctx).promise;
}

/**
 * The groups manager chart with its real effects: `agent_groups.<pc_id>` → `ctx.membership$`
 * (published only on a change). Invoke it from the root; it stops on `STOP`.
 */
export function groupsActor(ctx: GroupsDeps) {
  const log = ctx.log.child({ component: "groups" });
  const k = knownFor(ctx);
  let synced: OpenBucket | null = null;
  const readWarnings = new WarnThrottle(() => ctx.clock.monotonic());
  const watchWarnings = new WarnThrottle(() => ctx.clock.monotonic());

  return groupsMachine.provide({
    actors: {
      readGroups: fromPromise(async ({ signal }) => {
        const bucket = await waitForBucket(KV_AGENT_GROUPS, {
          link: ctx.link,
          log,
          random: ctx.random,
          signal,
        });
        const read = await readMembership(bucket, ctx.pcId);
        synced = bucket;
        return read;
      }),
      watch: fromCallback(({ sendBack, input }) =>
        followKv(
          synced,
          { key: ctx.pcId, fromRevision: input.fromRevision },
          (raw) =>
            sendBack({
              type: "GROUPS_ENTRY",
              entry: { revision: raw.revision, read: interpretGroupsEntry(raw) },
            }),
          ({ reason, opened }) => sendBack({ type: "WATCH_ENDED", reason, opened }),
        ),
      ),
      reconnects: fromCallback(({ sendBack }) => {
        const sub = ctx.link.woken$.subscribe(() => sendBack({ type: "RECONNECTED" }));
        return () => sub.unsubscribe();
      }),
    },
    guards: {
      kvUsable: () => ctx.pcIdKvSafe,
    },
    actions: {
      publishMembership: (_, { groups }) => {
        log.info({ groups }, "group membership changed");
        // Subscribers (the config supervisor, live intake) may drive their own actors: let them
        // run after this transition, not inside it. FIFO, so the order of changes is kept.
        queueMicrotask(() => ctx.membership$.next(groups));
      },
      warnMalformed: (_, { problem }) =>
        log.warn(
          { key: ctx.pcId, problem },
          `${KV_AGENT_GROUPS} ${ctx.pcId}: malformed value; no group membership`,
        ),
      warnDropped: (_, { name, problem }) =>
        log.warn({ group: name, problem }, `${KV_AGENT_GROUPS}: invalid group name ignored`),
      markKnown: () => {
        readWarnings.succeeded();
        k.resolve();
      },
      reportReadFailure: (_, { error }) => {
        const level = readWarnings.shouldWarn() ? "warn" : "debug";
        log[level]({ err: error }, `${KV_AGENT_GROUPS} read failed; reading again in 1 s`);
      },
      reportWatchEnd: (_, { reason, failures }) => {
        if (failures === 0) watchWarnings.succeeded();
        const level = watchWarnings.shouldWarn() ? "warn" : "debug";
        log[level]({ reason, failures }, `${KV_AGENT_GROUPS} watch ended; reading again`);
      },
    },
    delays: {
      rewatchPause: ({ context }) =>
        context.watchFailures === 0 ? 1_000 : backoffMs(context.watchFailures, ctx.random),
    },
  });
}
