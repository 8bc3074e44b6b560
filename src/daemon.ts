import { createActor, fromCallback, fromPromise, toPromise } from "xstate";
import { agentMachine } from "./machines/agent.machine.js";
import { connectionMachine } from "./machines/connection.machine.js";
import { type AgentConfig, toConnectionOptions } from "./services/config/index.js";
import type { DataDirLayout } from "./services/fs/dataDir.js";
import type { Logger } from "./services/logging/logger.js";
import { closeConnection, openConnection, watchConnection } from "./services/nats/connection.js";
import { NatsLink } from "./services/nats/link.js";
import { backoffMs } from "./services/nats/retry.js";
import { StalenessTracker } from "./services/nats/staleness.js";
import { systemClock, systemRandom } from "./services/time/clock.js";

export interface DaemonDeps {
  config: AgentConfig;
  layout: DataDirLayout;
  log: Logger;
}

export interface Daemon {
  /** Runs the graceful stop sequence; resolves with the process exit code. */
  stop(): Promise<number>;
  readonly exitCode: number;
}

/** Wires the services into the statecharts and starts the root actor. */
export async function startDaemon({ config, log }: DaemonDeps): Promise<Daemon> {
  const clock = systemClock;
  const random = systemRandom;
  const link = new NatsLink();
  const staleness = new StalenessTracker(clock);
  const connLog = log.child({ component: "connection" });
  const options = await toConnectionOptions(config, { name: `kanade-agent-${config.pcId}` });

  const connection = connectionMachine.provide({
    actors: {
      connect: fromPromise(() => openConnection(options)),
      watchStatus: fromCallback(({ sendBack, input }) => watchConnection(input.nc, sendBack)),
      close: fromPromise(({ input }) => closeConnection(input.nc)),
    },
    actions: {
      announceUp: (_, { nc, reconnect }) => {
        staleness.markUp();
        link.attach(nc);
        connLog.info(
          { server: nc.getServer(), max_payload: nc.info?.max_payload },
          reconnect ? "reconnected" : "connected",
        );
      },
      announceDown: (_, { reason }) => {
        staleness.markDown();
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

  const root = createActor(agentMachine.provide({ actors: { connection } }), {});
  root.subscribe({ error: (err) => log.error({ err: String(err) }, "root actor failed") });
  root.start();

  const exitCode = 0;
  return {
    exitCode,
    async stop() {
      root.send({ type: "STOP" });
      await toPromise(root).catch(() => {});
      return exitCode;
    },
  };
}
