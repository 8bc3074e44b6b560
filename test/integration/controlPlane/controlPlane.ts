// A config supervisor and a groups manager wired to a real broker, as the daemon wires them,
// plus an operator connection that writes the KV buckets the way a kanade backend does.
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { BehaviorSubject } from "rxjs";
import { type Actor, type AnyStateMachine, createActor } from "xstate";
import { createLogger } from "../../../src/services/logging/logger.js";
import { watchConnection } from "../../../src/services/nats/connection.js";
import { NatsLink } from "../../../src/services/nats/link.js";
import { KV_AGENT_CONFIG, KV_AGENT_GROUPS } from "../../../src/services/nats/subjects.js";
import { systemClock } from "../../../src/services/time/clock.js";
import { defaultEffectiveConfig } from "../../../src/services/wire/configScope.js";
import type { EffectiveConfig } from "../../../src/services/wire/types.js";
import { configSupervisorActor } from "../../../src/wiring/configSupervisor.js";
import { groupsActor, membershipKnown } from "../../../src/wiring/groups.js";
import type { NatsServer } from "../../helpers/natsServer.js";
import { waitFor } from "../../helpers/waitFor.js";

export const CPUS = 3;
export const DEFAULTS = defaultEffectiveConfig(CPUS);

export interface LogRecord {
  level: string;
  msg: string;
  [k: string]: unknown;
}

const clientOptions = (server: NatsServer, name: string) => ({
  servers: server.url,
  name,
  maxReconnectAttempts: -1,
  reconnectTimeWait: 100,
  // Short pings so that a connection to a killed server is noticed quickly in tests.
  pingInterval: 2_000,
});

export interface ControlPlane {
  pcId: string;
  config$: BehaviorSubject<EffectiveConfig>;
  membership$: BehaviorSubject<readonly string[]>;
  /** Every value config$ held, in order, the initial defaults first. */
  configs: EffectiveConfig[];
  /** Every value membership$ held, in order. */
  memberships: (readonly string[])[];
  logs: LogRecord[];
  known: Promise<void>;
  warnings(re: RegExp): LogRecord[];
  stop(): Promise<void>;
}

export async function startControlPlane(
  server: NatsServer,
  opts: { pcId?: string } = {},
): Promise<ControlPlane> {
  const pcId = opts.pcId ?? "pc-1";
  const nc = await connect(clientOptions(server, `agent-${pcId}`));
  const link = new NatsLink();
  link.attach(nc);
  const stopStatus = watchConnection(nc, (e) => {
    if (e.type === "DISCONNECTED") link.setUp(false);
    if (e.type === "RECONNECTED") link.setUp(true);
  });

  const logs: LogRecord[] = [];
  const log = createLogger({
    level: "debug",
    destination: { write: (line: string) => void logs.push(JSON.parse(line) as LogRecord) },
  });
  const config$ = new BehaviorSubject<EffectiveConfig>(DEFAULTS);
  const membership$ = new BehaviorSubject<readonly string[]>([]);
  const configs: EffectiveConfig[] = [];
  const memberships: (readonly string[])[] = [];
  config$.subscribe((c) => configs.push(c));
  membership$.subscribe((m) => memberships.push(m));

  const ctx = {
    pcId,
    pcIdKvSafe: true,
    link,
    log,
    clock: systemClock,
    random: () => 0.5,
    config$,
    membership$,
  };
  const actors: Actor<AnyStateMachine>[] = [
    createActor(groupsActor(ctx)).start(),
    createActor(configSupervisorActor(ctx), { input: { cpus: CPUS } }).start(),
  ];
  for (const a of actors)
    a.subscribe({ error: (err) => logs.push({ level: "fatal", msg: `actor failed: ${err}` }) });

  return {
    pcId,
    config$,
    membership$,
    configs,
    memberships,
    logs,
    known: membershipKnown(ctx),
    warnings: (re) => logs.filter((l) => l.level === "warn" && re.test(l.msg)),
    async stop() {
      for (const a of actors) a.stop();
      stopStatus();
      await nc.close();
    },
  };
}

/** The backend side: writes agent_config and agent_groups. */
export interface Operator {
  nc: NatsConnection;
  config(): Promise<KV>;
  groups(): Promise<KV>;
  putConfig(key: string, value: unknown): Promise<number>;
  putGroups(pcId: string, value: unknown): Promise<number>;
  /** Resolves once the operator's connection is up again after a broker restart. */
  ready(): Promise<void>;
  close(): Promise<void>;
}

export async function operator(server: NatsServer): Promise<Operator> {
  const nc = await connect(clientOptions(server, "operator"));
  let up = true;
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") up = false;
      if (s.type === "reconnect") up = true;
    }
  })().catch(() => {});
  const open = (name: string) => new Kvm(nc).open(name);
  const text = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));
  // A put issued while the operator's own connection is still reconnecting after a broker
  // restart can lose its PubAck; a backend would retry too.
  const put = async (bucket: string, key: string, value: string): Promise<number> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await (await open(bucket)).put(key, value, { timeout: 2_000 });
      } catch (err) {
        if (attempt >= 3 || !/timeout/i.test(String(err))) throw err;
      }
    }
  };
  return {
    nc,
    config: () => open(KV_AGENT_CONFIG),
    groups: () => open(KV_AGENT_GROUPS),
    putConfig: (key, value) => put(KV_AGENT_CONFIG, key, text(value)),
    putGroups: (pcId, value) => put(KV_AGENT_GROUPS, pcId, text(value)),
    ready: async () => {
      await waitFor(() => up, { what: "the operator connection to reconnect" });
      await nc.flush();
    },
    close: () => nc.close(),
  };
}

export async function waitForConfig(
  cp: ControlPlane,
  pred: (c: EffectiveConfig) => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  await waitFor(() => pred(cp.config$.value), {
    timeoutMs,
    what: `${what} (config now ${JSON.stringify(cp.config$.value)})`,
  });
}

export async function waitForLog(
  cp: ControlPlane,
  pred: (l: LogRecord) => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<LogRecord> {
  let found: LogRecord | undefined;
  await waitFor(
    () => {
      found = cp.logs.find(pred);
      return found !== undefined;
    },
    { timeoutMs, what: `log line: ${what}` },
  );
  return found!;
}
