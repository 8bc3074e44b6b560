// Shared set-up of the perf integration tests: a real nats-server, a NatsLink fed like the
// daemon feeds it, and the subset of AgentContext the tickers and the ping responder take.
import { connect } from "@nats-io/transport-node";
import { BehaviorSubject } from "rxjs";
import { silentLogger } from "../../../src/services/logging/logger.js";
import { watchConnection } from "../../../src/services/nats/connection.js";
import { NatsLink } from "../../../src/services/nats/link.js";
import { firstTickSpreadMs } from "../../../src/services/perf/firstTickSpread.js";
import { systemClock } from "../../../src/services/time/clock.js";
import { defaultEffectiveConfig } from "../../../src/services/wire/index.js";
import type { EffectiveConfig } from "../../../src/services/wire/types.js";
import type { TickerContext } from "../../../src/wiring/tickers.js";
import type { NatsServer } from "../../helpers/natsServer.js";

export type Cleanup = () => Promise<void> | void;

/**
 * A pc_id whose first-tick spread is short (the spread is derived from the id), so that a test
 * does not wait up to 5 s for the first beat: heartbeat under 200 ms at 30 s, perf under a fifth
 * of the interval.
 */
export function quickPcId(prefix: string): string {
  for (let i = 0; ; i++) {
    const id = `${prefix}-${process.pid}-${i}`;
    if (
      firstTickSpreadMs(id, "heartbeat", 30_000) < 200 &&
      firstTickSpreadMs(id, "perf", 5_000) < 1_000
    ) {
      return id;
    }
  }
}

/** The agent side: its connection (to `url`, a server or a proxy) and the link fed from it. */
export async function agentLink(url: string, cleanups: Cleanup[]) {
  const nc = await connect({
    servers: url,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 200,
    name: "perf-test-agent",
  });
  const link = new NatsLink();
  link.attach(nc);
  const unwatch = watchConnection(nc, (e) => {
    if (e.type === "DISCONNECTED") link.setUp(false);
    if (e.type === "RECONNECTED") link.setUp(true);
  });
  cleanups.push(async () => {
    unwatch();
    await nc.close();
  });
  return { link, nc };
}

export async function observer(server: NatsServer, cleanups: Cleanup[]) {
  const nc = await connect({
    servers: server.url,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 50,
    name: "perf-test-observer",
  });
  cleanups.push(() => nc.close());
  return nc;
}

export function tickerContext(
  pcId: string,
  link: NatsLink,
  config: Partial<EffectiveConfig> = {},
  quarantined: readonly string[] = [],
): TickerContext & { config$: BehaviorSubject<EffectiveConfig> } {
  return {
    pcId,
    agentVersion: "9.8.7-test",
    platform: process.platform,
    clock: systemClock,
    link,
    log: silentLogger(),
    config$: new BehaviorSubject<EffectiveConfig>({ ...defaultEffectiveConfig(2), ...config }),
    quarantinedVersions: () => quarantined,
  };
}
