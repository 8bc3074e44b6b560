import { defineScenario } from "../dsl.js";

export const brokerSigkillMidCommand = defineScenario(
  "broker-sigkill-mid-command",
  async (s) => {
    await s.startBroker();
    await s.startAgent("pc-a");
    const n = s.size(3, 6);
    const rids: string[] = [];
    for (let i = 0; i < n; i++)
      rids.push(await s.publishCommand({ pc: "pc-a" }, s.sleepScript(s.between(1, 3))));
    // max_local_concurrent is the CPU count, so some wait for a slot while the broker dies.
    await s.waitFor({ running: rids[0]! });
    await s.sleep(s.between(0, 1_000));
    await s.killBroker();
    await s.sleep(s.between(500, 2_500));
    await s.restartBroker();
    await s.expectResults({ exactlyOnce: "all" });
    await s.expectNoProcessesLeft();
    await s.expectAgentAlive();
  },
  {
    fast: true,
    description: "broker SIGKILLed while commands run and wait; same store back: each once",
  },
);

export const brokerEmptyStore = defineScenario(
  "broker-empty-store",
  async (s) => {
    await s.startBroker();
    await s.startAgent("pc-a");
    const before = await s.publishCommand({ pc: "pc-a" }, "true");
    await s.waitFor({ result: before });
    const during = await s.publishCommand({ pc: "pc-a" }, s.sleepScript(s.between(2, 3)));
    await s.waitFor({ running: during });
    await s.killBroker();
    // The backend comes back with nothing: no streams, no buckets, no durable. Its own start-up
    // creates the set again; the agent must wait for it without a restart of its own.
    await s.restartBroker(0, { emptyStore: true });
    await s.sleep(s.between(500, 2_000));
    await s.recreateResources();
    const after = await s.publishCommand({ pc: "pc-a" }, "true");
    await s.expectResults({ exactlyOnce: [before, during, after] });
    await s.expectNoProcessesLeft();
    await s.expectAgentAlive();
  },
  {
    fast: true,
    description:
      "broker restarted with an empty store mid-command; set re-created: nothing lost or re-run",
  },
);

export const brokerFrozen = defineScenario(
  "broker-frozen",
  async (s) => {
    await s.startBroker();
    await s.startAgent("pc-a");
    const rids: string[] = [];
    for (let i = 0; i < s.size(2, 4); i++)
      rids.push(await s.publishCommand({ pc: "pc-a" }, s.sleepScript(1)));
    await s.waitFor({ running: rids[0]! });
    // SIGSTOP: sockets stay open, nothing is answered; results published meanwhile wait for a
    // PubAck (30 s) that only comes after the thaw, or are sent again with the same Nats-Msg-Id.
    await s.freezeBroker(s.between(3_000, 8_000));
    await s.expectResults({ exactlyOnce: rids });
    await s.expectNoProcessesLeft();
    await s.expectAgentAlive();
  },
  { description: "broker SIGSTOPped for seconds while results are published: each once" },
);
