import { assign, fromCallback, fromPromise, setup } from "xstate";
import { releaseVersionProblem } from "../services/selfupdate/releaseVersion.js";

/** What the chart must know before it decides anything. */
export interface SelfUpdateFacts {
  /** The version running now. */
  running: string;
  /** Versions the boot sentinel rolled back (behavior.md 15.11): never targets. */
  quarantined: readonly string[];
}

export type SelfUpdateEvent =
  /** The effective `target_version` and `target_version_jitter` (sent on every change). */
  { type: "TARGET"; target: string | null; jitterMs: number } | { type: "STOP" };

/** What the work actors are given. */
export interface SelfUpdateWork {
  version: string;
}

interface SelfUpdateContext {
  /** null until `loadFacts` answered. */
  facts: SelfUpdateFacts | null;
  target: string | null;
  jitterMs: number;
  /** The version the current attempt works on, from the jitter wait to the swap. */
  working: string | null;
  /** The target refused by this process (15.5), until the target changes. */
  refused: string | null;
  /** Consecutive transport failures of the current attempt (15.5). */
  failures: number;
  /** The quarantined target last logged, so it is logged once. */
  notedQuarantine: string | null;
}

const SECOND = 1000;
/** behavior.md 15.5: retry gaps after the 1st and 2nd failure, and after the 3rd. */
export const DOWNLOAD_RETRY_GAPS_MS = [15 * SECOND, 45 * SECOND] as const;
export const DOWNLOAD_RETRY_LATER_MS = 3_600 * SECOND;
const ATTEMPTS_PER_ROUND = DOWNLOAD_RETRY_GAPS_MS.length + 1;
/**
 * A jitter wait longer than this is cut to it: timers cannot wait 25 days, and a rollout that
 * spreads over more than a week is not one.
 */
export const MAX_JITTER_MS = 7 * 24 * 3_600 * SECOND;

/** Logged with the failure count the failure just raised. */
const noteRetry = {
  type: "noteRetry",
  params: ({ context, event }: { context: SelfUpdateContext; event: { error?: unknown } }) => ({
    version: context.working ?? "",
    failures: context.failures,
    error: event.error,
  }),
} as const;

/** An error the work actors throw for a release that must not be retried (ReleaseRejected). */
const isRefusal = (error: unknown): boolean =>
  typeof error === "object" && error !== null && (error as { refuse?: unknown }).refuse === true;

const wants = (c: SelfUpdateContext): boolean =>
  c.facts !== null &&
  c.target !== null &&
  c.target !== c.facts.running &&
  !c.facts.quarantined.includes(c.target) &&
  c.target !== c.refused;

/**
 * Self-update (behavior.md 15.1–15.7): when `target_version` is set, differs from the running
 * version, is not quarantined and was not refused, wait a random jitter, wait for the
 * `agent_releases` store, download and verify, unpack, swap, and ask for a restart with 64.
 * A target change before the swap restarts the decision. Transport failures are retried 15 s
 * and 45 s later, then after 1 h; a rejected release is refused until the target changes.
 */
export const selfUpdateMachine = setup({
  types: {
    context: {} as SelfUpdateContext,
    events: {} as SelfUpdateEvent,
  },
  actors: {
    loadFacts: fromPromise<SelfUpdateFacts>(async () => {
      throw new Error("loadFacts actor not provided");
    }),
    /** Sends TARGET on every change of the effective config's target. */
    watchConfig: fromCallback<SelfUpdateEvent>(() => () => {}),
    /** Waits (forever, behavior.md §3) until the release store can be opened. */
    waitStore: fromPromise<void, SelfUpdateWork>(async () => {}),
    download: fromPromise<void, SelfUpdateWork>(async () => {
      throw new Error("download actor not provided");
    }),
    unpack: fromPromise<void, SelfUpdateWork>(async () => {
      throw new Error("unpack actor not provided");
    }),
    /** Holds launches, waits for children, writes state.json. */
    swap: fromPromise<void, SelfUpdateWork>(async () => {
      throw new Error("swap actor not provided");
    }),
  },
  actions: {
    /** Graceful stop and exit 64 (the daemon's stop sequence). */
    requestRestart: (_, _params: { version: string }) => {},
    noteDeciding: (_, _params: { version: string; jitterMs: number }) => {},
    noteTargetChanged: (_, _params: { from: string; to: string | null }) => {},
    noteQuarantined: (_, _params: { version: string }) => {},
    noteRefused: (_, _params: { version: string; reason: string }) => {},
    noteRetry: (_, _params: { version: string; failures: number; error: unknown }) => {},
    noteFailed: (_, _params: { what: string; error: unknown }) => {},
    noteStaged: (_, _params: { version: string }) => {},
    assignTarget: assign(({ context, event }) => {
      if (event.type !== "TARGET") return {};
      return {
        target: event.target,
        jitterMs: event.jitterMs,
        // 15.5: refused "until it changes".
        refused: event.target === context.refused ? context.refused : null,
      };
    }),
    countFailure: assign({ failures: ({ context }) => context.failures + 1 }),
  },
  guards: {
    wantsUpdate: ({ context }) => wants(context),
    targetMoved: ({ context }, p: { target: string | null }) => p.target !== context.working,
    quarantinedUnnoted: ({ context }) =>
      context.target !== null &&
      context.target !== context.notedQuarantine &&
      context.facts?.quarantined.includes(context.target) === true,
    isRefusal: (_, p: { error: unknown }) => isRefusal(p.error),
    /** The version cannot name a staging folder. */
    isUnusableVersion: (_, p: { version: string }) => releaseVersionProblem(p.version) !== null,
  },
  delays: {
    // Provided with the injected random (`jitteredDelay`); the bound is the default.
    jitterDelay: ({ context }) => Math.min(context.jitterMs, MAX_JITTER_MS),
    retryDelay: ({ context }) =>
      DOWNLOAD_RETRY_GAPS_MS[context.failures - 1] ?? DOWNLOAD_RETRY_LATER_MS,
  },
}).createMachine({
  id: "selfUpdate",
  context: {
    facts: null,
    target: null,
    jitterMs: 0,
    working: null,
    refused: null,
    failures: 0,
    notedQuarantine: null,
  },
  invoke: { src: "watchConfig" },
  on: {
    // Outside the working states a change is only recorded; `idle` re-decides on its own.
    TARGET: { actions: "assignTarget" },
    STOP: ".stopped",
  },
  initial: "loading",
  states: {
    loading: {
      invoke: {
        src: "loadFacts",
        onDone: { target: "idle", actions: assign({ facts: ({ event }) => event.output }) },
        // Without the quarantine list an update could bring back a rolled-back release.
        onError: {
          target: "disabled",
          actions: {
            type: "noteFailed",
            params: ({ event }) => ({ what: "reading the release state", error: event.error }),
          },
        },
      },
    },
    idle: {
      always: [
        {
          guard: "wantsUpdate",
          target: "working",
          actions: assign({ working: ({ context }) => context.target, failures: 0 }),
        },
        {
          // Once per target: say why a rollout does not reach this agent.
          guard: "quarantinedUnnoted",
          actions: [
            {
              type: "noteQuarantined",
              params: ({ context }) => ({ version: context.target ?? "" }),
            },
            assign({ notedQuarantine: ({ context }) => context.target }),
          ],
        },
      ],
    },
    working: {
      on: {
        TARGET: [
          {
            // 15.2: a change restarts the decision (and cancels the attempt).
            guard: { type: "targetMoved", params: ({ event }) => ({ target: event.target }) },
            target: "idle",
            actions: [
              {
                type: "noteTargetChanged",
                params: ({ context, event }) => ({
                  from: context.working ?? "",
                  to: event.target,
                }),
              },
              "assignTarget",
              assign({ working: null }),
            ],
          },
          { actions: "assignTarget" },
        ],
      },
      initial: "checking",
      states: {
        checking: {
          always: [
            {
              guard: {
                type: "isUnusableVersion",
                params: ({ context }) => ({ version: context.working ?? "" }),
              },
              target: "#selfUpdate.refusing",
              actions: {
                type: "noteRefused",
                params: ({ context }) => ({
                  version: context.working ?? "",
                  reason: `target_version ${releaseVersionProblem(context.working ?? "")}`,
                }),
              },
            },
            {
              target: "jitter",
              actions: {
                type: "noteDeciding",
                params: ({ context }) => ({
                  version: context.working ?? "",
                  jitterMs: Math.min(context.jitterMs, MAX_JITTER_MS),
                }),
              },
            },
          ],
        },
        jitter: { after: { jitterDelay: "waitStore" } },
        waitStore: {
          invoke: {
            src: "waitStore",
            input: ({ context }) => ({ version: context.working ?? "" }),
            onDone: "download",
            onError: { target: "retryWait", actions: ["countFailure", noteRetry] },
          },
        },
        download: {
          invoke: {
            src: "download",
            input: ({ context }) => ({ version: context.working ?? "" }),
            onDone: "unpack",
            onError: [
              {
                guard: { type: "isRefusal", params: ({ event }) => ({ error: event.error }) },
                target: "#selfUpdate.refusing",
                actions: {
                  type: "noteRefused",
                  params: ({ context, event }) => ({
                    version: context.working ?? "",
                    reason: reasonOf(event.error),
                  }),
                },
              },
              { target: "retryWait", actions: ["countFailure", noteRetry] },
            ],
          },
        },
        retryWait: {
          after: {
            retryDelay: {
              target: "waitStore",
              // After the third failure and the long wait, a new round of three attempts.
              actions: assign({
                failures: ({ context }) =>
                  context.failures >= ATTEMPTS_PER_ROUND ? 0 : context.failures,
              }),
            },
          },
        },
        unpack: {
          invoke: {
            src: "unpack",
            input: ({ context }) => ({ version: context.working ?? "" }),
            onDone: "#selfUpdate.swapping",
            onError: [
              {
                guard: { type: "isRefusal", params: ({ event }) => ({ error: event.error }) },
                target: "#selfUpdate.refusing",
                actions: {
                  type: "noteRefused",
                  params: ({ context, event }) => ({
                    version: context.working ?? "",
                    reason: reasonOf(event.error),
                  }),
                },
              },
              { target: "retryWait", actions: ["countFailure", noteRetry] },
            ],
          },
        },
      },
    },
    // The commit point: target changes are only recorded from here on.
    swapping: {
      entry: {
        type: "noteStaged",
        params: ({ context }) => ({ version: context.working ?? "" }),
      },
      invoke: {
        src: "swap",
        input: ({ context }) => ({ version: context.working ?? "" }),
        onDone: "restarting",
        onError: {
          target: "working.retryWait",
          actions: [
            {
              type: "noteFailed",
              params: ({ event }) => ({ what: "the swap", error: event.error }),
            },
            "countFailure",
          ],
        },
      },
    },
    restarting: {
      entry: {
        type: "requestRestart",
        params: ({ context }) => ({ version: context.working ?? "" }),
      },
    },
    refusing: {
      entry: assign({ refused: ({ context }) => context.working, working: null }),
      always: "idle",
    },
    disabled: {},
    stopped: { type: "final" },
  },
});

function reasonOf(error: unknown): string {
  if (typeof error === "object" && error !== null && "reason" in error)
    return String((error as { reason: unknown }).reason);
  return error instanceof Error ? error.message : String(error);
}

/** `jitterDelay` drawn uniformly in [0, target_version_jitter] with the injected random (15.2). */
export function jitteredDelay(
  random: () => number,
): ({ context }: { context: SelfUpdateContext }) => number {
  return ({ context }) => Math.floor(random() * (Math.min(context.jitterMs, MAX_JITTER_MS) + 1));
}
