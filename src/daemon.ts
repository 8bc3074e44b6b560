import { cpus } from "node:os";
import { BehaviorSubject, merge, Subject } from "rxjs";
import {
  type AnyActorRef,
  createActor,
  fromCallback,
  fromPromise,
  type InspectionEvent,
  toPromise,
} from "xstate";
import { agentMachine } from "./machines/agent.machine.js";
import { connectionMachine } from "./machines/connection.machine.js";
import type { AgentContext } from "./services/agentContext.js";
import { AdmissionBacklog } from "./services/commands/backlog.js";
import { GateReads } from "./services/commands/gateReads.js";
import { HandOvers } from "./services/commands/handOvers.js";
import { Ledger } from "./services/commands/ledger.js";
import { LiveIntake } from "./services/commands/liveIntake.js";
import { admissionPipeline, type LocalCommand } from "./services/commands/pipeline.js";
import { recoverLedger } from "./services/commands/recovery.js";
import { syntheticResult } from "./services/commands/report.js";
import { Slots } from "./services/commands/slots.js";
import { type AgentConfig, toConnectionOptions } from "./services/config/index.js";
import { SPAWN_HELPERS, SpawnHelperPool } from "./services/exec/spawnHelperPool.js";
import type { DataDirLayout } from "./services/fs/dataDir.js";
import type { Logger } from "./services/logging/logger.js";
import { closeConnection, openConnection, watchConnection } from "./services/nats/connection.js";
import { followSubscription } from "./services/nats/followSubscription.js";
import { NatsLink } from "./services/nats/link.js";
import { backoffMs } from "./services/nats/retry.js";
import { StalenessTracker } from "./services/nats/staleness.js";
import { execIdFromKillSubject, killWildcard } from "./services/nats/subjects.js";
import { OutboxDrainer } from "./services/outbox/drainer.js";
import { startDrainLoop } from "./services/outbox/drainLoop.js";
import { NatsPublisher } from "./services/outbox/publisher.js";
import { OutboxStore, startOutboxReports } from "./services/outbox/store.js";
import { optimiseSoonerOnce } from "./services/perf/tiering.js";
import { confirmDeadlineFromEnv, ReleaseHealth } from "./services/selfupdate/health.js";
import { stagingLayout } from "./services/selfupdate/stagingLayout.js";
import { CommandVerifier } from "./services/signing/verifier.js";
import { systemClock, systemRandom } from "./services/time/clock.js";
import { defaultEffectiveConfig, interpretEffectiveConfig } from "./services/wire/index.js";
import type { Command } from "./services/wire/types.js";
import { AGENT_VERSION } from "./version.js";
import { commandActorLogic, kvLookup } from "./wiring/commands.js";
import { configSupervisorActor } from "./wiring/configSupervisor.js";
import { groupsActor, membershipKnown } from "./wiring/groups.js";
import { inventoryActor } from "./wiring/inventory.js";
import { localSchedulerActor, localSchedulerInput } from "./wiring/localScheduler.js";
import { startLogsResponderFor } from "./wiring/logsResponder.js";
import { startPingResponder } from "./wiring/pingResponder.js";
import { replayActorLogic } from "./wiring/replay.js";
import { selfUpdateActor } from "./wiring/selfUpdate.js";
import { startStateResponder } from "./wiring/stateResponder.js";
import { heartbeatTicker, hostPerfTicker, processPerfTicker } from "./wiring/tickers.js";

export interface DaemonDeps {
  config: AgentConfig;
  layout: DataDirLayout;
  log: Logger;
  /** Inspection events of the whole actor tree (`--inspect`, `--inspect-log`). */
  inspect?: (e: InspectionEvent) => void;
  /** The agent wants to stop by itself and exit with `code` (64: restart into a new release). */
  requestExit: (code: number) => void;
}

export interface Daemon {
  /** Runs the graceful stop sequence; resolves with the process exit code. */
  stop(): Promise<number>;
  /** 0, or 64 once a self-update or rollback asked for a restart. */
  readonly exitCode: number;
  readonly root: AnyActorRef;
}

/**
 * Live command actors beyond the concurrency budget; further admitted commands wait as plain
 * records (the ledger holds them): a burst of thousands must not cost a statechart each, and the
 * root chart copies its children's list at every spawn and stop, so a long one costs per command.
 * A few more than the budget keep every slot fed (the next ones are queued with their gate reads
 * in flight) while earlier ones report.
 */
const BACKLOG_EXTRA_ACTORS = 8;

/** behavior.md 1.9 step 7: resume unfinished records after the first connect, or 30 s. */
const RESUME_FALLBACK_MS = 30_000;

/** Builds the services, wires them into the statecharts and starts the root actor. */
export async function startDaemon({
  config,
  layout,
  log,
  inspect,
  requestExit,
}: DaemonDeps): Promise<Daemon> {
  const clock = systemClock;
  const random = systemRandom;
  const cpuCount = Math.max(1, cpus().length);
  const link = new NatsLink();
  let exitCode = 0;
  const requestRestart = (code: number) => {
    exitCode = code;
    requestExit(code);
  };
  // behavior.md 15.9–15.11: a fresh release must prove its health or be rolled back.
  const releaseHealth = await ReleaseHealth.open({
    staging: stagingLayout(layout.staging),
    agentVersion: AGENT_VERSION,
    clock,
    log: log.child({ component: "release" }),
    deadlineMs: confirmDeadlineFromEnv(process.env),
  });
  const ctx: AgentContext = {
    pcId: config.pcId,
    pcIdKvSafe: config.pcIdKvSafe,
    agentVersion: AGENT_VERSION,
    platform: process.platform,
    layout,
    log,
    clock,
    random,
    link,
    staleness: new StalenessTracker(clock),
    config$: new BehaviorSubject(defaultEffectiveConfig(cpuCount)),
    membership$: new BehaviorSubject<readonly string[]>([]),
    quarantinedVersions: () => releaseHealth.quarantined(),
    // Heartbeats are published only once the command subscriptions are in place (announceUp).
    heartbeatSent: () => {
      if (releaseHealth.unconfirmed) void releaseHealth.confirm();
    },
  };
  const stopSignal = new AbortController();

  // Windows creates processes without copying the parent: only POSIX agents need the helper.
  const forkFromHelper = process.platform !== "win32";
  // behavior.md 1.9 step 3: ledger load, prune and crash recovery before anything connects.
  const ledger = await Ledger.open(layout.ledger, {
    clock,
    log: log.child({ component: "ledger" }),
    // The helper syncs each `running` record right before its fork, off the agent's thread.
    spawnerWritesIntents: forkFromHelper,
  });
  ledger.startPruneTimer();
  const outboxLog = log.child({ component: "outbox" });
  const results = await OutboxStore.open(layout.outbox, { log: outboxLog });
  const events = await OutboxStore.open(layout.eventsOutbox, { log: outboxLog });
  const resumable = await recoverLedger({
    ledger,
    results,
    pcId: config.pcId,
    now: clock.now,
    log,
  });

  const slots = new Slots(interpretEffectiveConfig(ctx.config$.value, cpuCount).maxLocalConcurrent);
  ctx.config$.subscribe((c) =>
    slots.setLimit(interpretEffectiveConfig(c, cpuCount).maxLocalConcurrent),
  );

  const gateReads = new GateReads(kvLookup(ctx), clock);
  const handOvers = new HandOvers();
  const spawnHelper = forkFromHelper
    ? new SpawnHelperPool(SPAWN_HELPERS, { log: log.child({ component: "spawner" }) })
    : undefined;

  const drainer = new OutboxDrainer({
    events,
    results,
    publisher: new NatsPublisher({ link, clock, log: outboxLog }),
    clock,
    log: outboxLog,
    onPublished: async (kind, payload) => {
      // 6.7: a result published before its record said finished (crash between the two).
      if (kind === "result" && ledger.lookup(payload.requestId)?.state === "running")
        await ledger.markFinished(payload.requestId, {
          finishedAt: payload.finishedAt,
          exitCode: payload.exitCode,
        });
    },
  });
  const drainLoop = startDrainLoop({ drainer, wake$: link.woken$, clock, random, log: outboxLog });

  const live = new LiveIntake(config.pcId, clock, log.child({ component: "intake" }));
  ctx.membership$.subscribe((groups) => void live.setGroups(groups).catch(() => {}));
  // Replay judges group subjects, so it starts once the groups manager has read the membership.
  const replay = replayActorLogic({
    ctx,
    ledgerIsEmpty: () => ledger.size === 0,
    membershipKnown: membershipKnown(ctx),
    signal: stopSignal.signal,
  });
  const local$ = new Subject<LocalCommand>();
  // Local schedule runs wait for their result to record completions (behavior.md 16.6).
  const localWaiters = new Map<
    string,
    (r: { exitCode: number; finishedAt: number } | null) => void
  >();
  const submitLocal = (command: Command, meta: { scheduleId: string; rejection?: string }) =>
    new Promise<{ exitCode: number; finishedAt: number } | null>((resolve) => {
      if (local$.closed) return resolve(null);
      localWaiters.set(command.requestId, resolve);
      local$.next({
        command,
        subject: `local:${meta.scheduleId}`,
        receivedAt: clock.now(),
        rejection: meta.rejection,
      });
    });
  // behavior.md §17: main.ts has already validated the keys file (exit 2 on a bad one).
  const verifier = config.signing
    ? await CommandVerifier.open(config.signing, {
        pcId: config.pcId,
        clock,
        log: log.child({ component: "signing" }),
      })
    : undefined;
  const optimiseSooner = optimiseSoonerOnce(log.child({ component: "v8" }));
  const admitted$ = admissionPipeline(merge(live.messages$, replay.messages$), local$, {
    pcId: config.pcId,
    isMember: (g) => ctx.membership$.value.includes(g),
    ledger,
    log: log.child({ component: "pipeline" }),
    verifier,
    // Only when it will run at once: in a burst the reads would be stale by its turn.
    onNew: (command, receivedAt) => {
      if (slots.free) gateReads.prefetch(command, { requestId: command.requestId, receivedAt });
    },
    onRefused: async (r) => {
      const file = syntheticResult({ ...r, pcId: config.pcId, now: clock.now() }, 123, r.note);
      void drainer.publishNow("result", await results.write(file.payload, file.privateMembers));
    },
  });

  const connLog = log.child({ component: "connection" });
  const options = await toConnectionOptions(config, { name: `kanade-agent-${config.pcId}` });
  const connection = connectionMachine.provide({
    actors: {
      connect: fromPromise(() =>
        openConnection(options, {
          onFailure: (reason) =>
            connLog.error(
              { reason, servers: options.servers },
              `cannot connect to NATS: ${reason} (still retrying)`,
            ),
        }),
      ),
      watchStatus: fromCallback(({ sendBack, input }) => watchConnection(input.nc, sendBack)),
      close: fromPromise(({ input }) => closeConnection(input.nc)),
    },
    actions: {
      announceUp: (_, { nc, reconnect }) => {
        ctx.staleness.markUp();
        // Live subscriptions first, so a command published right after "connected" is seen.
        void live.attach(nc).then(
          () => link.attach(nc),
          (err: unknown) => {
            connLog.error({ err: String(err) }, "command subscriptions failed");
            link.attach(nc);
          },
        );
        connLog.info(
          { server: nc.getServer(), max_payload: nc.info?.max_payload },
          reconnect ? "reconnected" : "connected",
        );
      },
      announceDown: (_, { reason }) => {
        ctx.staleness.markDown();
        link.setUp(false);
        connLog.warn({ reason }, "connection lost");
      },
      announceNotice: (_, { event }) =>
        connLog.warn({ event: event.type, ...event }, "connection notice"),
    },
    delays: {
      rebuildDelay: ({ context }) => backoffMs(context.failures, random),
    },
  });

  const root = createActor(
    agentMachine.provide({
      actors: {
        connection,
        replay: replay.logic,
        command: commandActorLogic({
          ctx,
          ledger,
          slots,
          gateReads,
          results,
          events,
          publishNow: (kind, name) => void drainer.publishNow(kind, name),
          spawner: spawnHelper,
          publishResult: (raw, complete) =>
            drainer.publishResult(Buffer.from(raw, "utf8"), complete),
          handOvers,
          onResult: (requestId, exitCode, finishedAt) => {
            localWaiters.get(requestId)?.({ exitCode, finishedAt });
            localWaiters.delete(requestId);
          },
        }),
        configSupervisor: configSupervisorActor(ctx),
        groups: groupsActor(ctx),
        localScheduler: localSchedulerActor(ctx, submitLocal),
        selfUpdate: selfUpdateActor(ctx, {
          commands: {
            holdLaunches: () => slots.hold(),
            resumeLaunches: () => slots.resume(),
            runningCommands: () => slots.inUse,
          },
          requestRestart,
        }),
        intake: fromCallback(({ sendBack }) => {
          const backlog = new AdmissionBacklog(
            () => slots.capacity + BACKLOG_EXTRA_ACTORS,
            ({ admitted, killed }) => {
              // Its gate reads travel while its actor starts.
              if (admitted.command && !killed) gateReads.prefetch(admitted.command, admitted);
              sendBack({ type: "COMMAND_ADMITTED", admitted, killedWhileWaiting: killed });
            },
          );
          const liveActors = () => root.getSnapshot().context.commands;
          const sub = admitted$.subscribe((admitted) => {
            optimiseSooner();
            backlog.push(admitted, liveActors());
          });
          const released = root.subscribe(() => backlog.release(liveActors()));
          const kills = followSubscription(
            link,
            killWildcard(),
            // Every kill of the fleet arrives here; the commands it names (queued, waiting their
            // jitter or running) act on it and log it, the others ignore it.
            (msg) => {
              const execId = execIdFromKillSubject(msg.subject);
              if (!execId) return;
              if (backlog.size > 0) backlog.kill(execId);
              sendBack({ type: "KILL", execId });
            },
            log,
          );
          return () => {
            sub.unsubscribe();
            released.unsubscribe();
            kills.stop();
            backlog.clear();
          };
        }),
        heartbeat: heartbeatTicker(ctx),
        hostPerf: hostPerfTicker(ctx),
        processPerf: processPerfTicker(ctx),
        inventory: inventoryActor(ctx),
        outboxes: fromCallback(() => () => void drainLoop.stop()),
        auxiliaries: fromCallback(() => {
          const stopReports = startOutboxReports([results, events], outboxLog);
          const services = [
            startLogsResponderFor(ctx, config.log),
            startPingResponder(ctx),
            startStateResponder({ ctx, root: () => root, ledger, results, events }),
            { stop: stopReports },
          ];
          return () => {
            for (const s of services) s.stop();
          };
        }),
        finalDrain: fromPromise(async () => {
          const deadline = clock.monotonic() + 500;
          // A result published from memory must be let go of before the ledger closes; one still
          // unanswered then is moved to the outbox at the next start.
          await handOvers.settled(deadline - clock.monotonic());
          await drainLoop.drainOnce(deadline);
        }),
      },
      actions: {
        stopIntake: () => {
          stopSignal.abort();
          live.stop();
          local$.complete();
          for (const resolve of localWaiters.values()) resolve(null);
          localWaiters.clear();
        },
        commandFailed: (_, { requestId, error }) => {
          slots.release(requestId);
          log.error(
            { request_id: requestId, err: error },
            `command actor failed, stopped without a result: ${String(error)}`,
          );
        },
      },
    }),
    {
      id: "agent",
      systemId: "agent",
      input: { localScheduler: localSchedulerInput(ctx) },
      inspect,
    },
  );
  root.subscribe({ error: (err) => log.error({ err: String(err) }, "root actor failed") });
  root.start();

  // 1.9 step 7: resume what the previous process admitted but did not finish.
  if (resumable.length > 0) {
    let resumed = false;
    const resume = () => {
      if (resumed) return;
      resumed = true;
      sub.unsubscribe();
      clearTimeout(fallback);
      for (const r of resumable)
        root.send({ type: "COMMAND_ADMITTED", admitted: r.admitted, resume: r.resume });
    };
    const sub = link.woken$.subscribe(resume);
    const fallback = setTimeout(resume, RESUME_FALLBACK_MS);
  }

  releaseHealth.watch({ serverReached$: link.woken$, requestRestart });
  return {
    get exitCode() {
      return exitCode;
    },
    root,
    async stop() {
      releaseHealth.stop();
      root.send({ type: "STOP" });
      await toPromise(root).catch(() => {});
      spawnHelper?.close();
      // The connection is closed: a hand-over still out fails at once and writes its outbox file;
      // its release then reaches the ledger before it closes.
      await handOvers.settled(150);
      await ledger.close().catch(() => {});
      return exitCode;
    },
  };
}
