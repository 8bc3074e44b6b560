import { defineScenario } from "../dsl.js";

/** nats.js pings every 30 s and calls the link stale after 2 unanswered (behavior.md 2.1). */
const PING_INTERVAL_MS = 30_000;

export const partitionDuringResultPublish = defineScenario(
  "partition-during-result-publish",
  async (s) => {
    await s.startBroker();
    await s.startAgent("pc-a");
    const rids: string[] = [];
    const n = s.size(2, 5);
    for (let i = 0; i < n; i++) {
      // The script ends around the moment the link is cut: its result is written and published
      // into a connection that is about to die (or already dead), and its PubAck may be lost.
      const rid = await s.publishCommand({ pc: "pc-a" }, "sleep 1");
      await s.waitFor({ running: rid });
      await s.sleep(s.between(850, 1_150));
      await s.partition("pc-a", s.between(1_000, 4_000));
      rids.push(rid);
    }
    await s.expectResults({ exactlyOnce: rids });
    await s.expectAgentAlive();
  },
  {
    fast: true,
    description: "link cut and refused right when results are published: each result once",
  },
);

export const blackholeBeyondPing = defineScenario(
  "blackhole-beyond-ping",
  async (s) => {
    await s.startBroker();
    await s.startAgent("pc-a");
    const before = await s.publishCommand({ pc: "pc-a" }, s.sleepScript(3));
    await s.waitFor({ running: before });
    // Long enough for the stale-connection detection (2 unanswered pings) to fire inside the
    // black hole whatever the ping phase: 3 intervals plus a margin.
    const hole = s.blackhole("pc-a", 3 * PING_INTERVAL_MS + s.between(5_000, 10_000));
    await s.sleep(2_000);
    // Reaches EXEC (the test client is not behind the black hole); the agent sees it by replay.
    const during = await s.publishCommand({ pc: "pc-a" }, "true");
    const mark = s.mark("pc-a");
    await hole;
    const stale = s.countLog("pc-a", { msg: "connection notice", event: "STALE" }, mark);
    const lost = s.countLog("pc-a", { msg: "connection lost" }, mark);
    s.note(`inside the black hole the agent logged ${stale} stale notice(s), ${lost} loss(es)`);
    await s.waitFor({ connected: "pc-a", since: mark }, 60_000);
    await s.expectResults({ exactlyOnce: [before, during] }, 90_000);
    await s.expectNoProcessesLeft();
    await s.expectAgentAlive();
  },
  {
    description: "every byte dropped for > 3 ping intervals: stale link detected, nothing lost",
    timeoutMs: 300_000,
  },
);
