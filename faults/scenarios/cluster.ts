import type { ScenarioContext } from "../dsl.js";
import { defineScenario } from "../dsl.js";

/**
 * EXEC keeps one command per subject (max_msgs_per_subject 1, as kanade 0.40 creates it): two
 * commands on one subject while the agent is away and the older one is gone before the durable
 * can deliver it. That is the backend's retention, not the agent's doing, so the steady publisher
 * spreads its commands over this many groups, one subject each, and reuses a subject only after
 * it went round all of them (~40 s).
 */
const GROUPS = Array.from({ length: 200 }, (_, i) => `wave${String(i).padStart(3, "0")}`);

/** Publishes a command every 100–300 ms, round-robin over `GROUPS`, until `stop()`. */
function steadyPublisher(s: ScenarioContext) {
  const rids: string[] = [];
  let stopped = false;
  const loop = (async () => {
    for (let i = 0; !stopped; i++) {
      rids.push(await s.publishCommand({ group: GROUPS[i % GROUPS.length]! }, "true"));
      await s.sleep(s.between(100, 300));
    }
  })();
  return {
    rids,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

export const clusterKillTwoNodes = defineScenario(
  "cluster-kill-agent-node-twice",
  async (s) => {
    await s.startCluster(3);
    await s.startAgent("pc-a", { groups: GROUPS });
    const pub = steadyPublisher(s);
    try {
      for (let round = 0; round < 2; round++) {
        await s.sleep(s.between(300, s.size(800, 2_000)));
        const node = await s.brokerOf("pc-a");
        await s.killBroker(node);
        await s.waitFor({ movedFrom: node, agent: "pc-a" }, 30_000);
        await s.sleep(s.between(300, s.size(800, 2_000)));
        await s.restartBroker(node);
        // R3 keeps a quorum only if the node is back in step before the next one dies.
        await s.waitFor({ replicasCurrent: true }, 60_000);
      }
    } finally {
      await pub.stop();
    }
    await s.expectResults({ exactlyOnce: pub.rids }, 90_000);
    await s.expectAgentAlive();
  },
  {
    fast: true,
    description: "3 nodes, R3: the agent's node killed, then its next one: nothing lost or re-run",
  },
);

export const lameDuckCluster = defineScenario(
  "lame-duck-agent-node",
  async (s) => {
    await s.startCluster(3);
    await s.startAgent("pc-a", { groups: GROUPS });
    const pub = steadyPublisher(s);
    try {
      await s.sleep(s.between(500, 2_000));
      const node = await s.brokerOf("pc-a");
      const gone = s.lameDuckBroker(node);
      await s.waitFor({ movedFrom: node, agent: "pc-a" }, 60_000);
      await gone;
      await s.sleep(s.between(500, 2_000));
      await s.restartBroker(node);
      await s.waitFor({ replicasCurrent: true }, 60_000);
    } finally {
      await pub.stop();
    }
    await s.expectResults({ exactlyOnce: pub.rids }, 90_000);
    await s.expectAgentAlive();
  },
  {
    description: "the agent's node enters lame duck mode (30 s): the agent moves, nothing lost",
  },
);
