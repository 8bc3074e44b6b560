import type { Scenario } from "../dsl.js";
import { agentSigkillMidCommand } from "./agentCrash.js";
import { brokerEmptyStore, brokerFrozen, brokerSigkillMidCommand } from "./brokerCrash.js";
import { clockJumpDeadline } from "./clockJump.js";
import { clusterKillTwoNodes, lameDuckCluster } from "./cluster.js";
import { consumerDeletedDuringReplay, streamDeletedRecreated } from "./jetstream.js";
import { blackholeBeyondPing, partitionDuringResultPublish } from "./network.js";
import { outboxFull } from "./outboxFull.js";
import { spawnHelperSigkillMidCommand } from "./spawnHelper.js";
import { commandStorm } from "./storm.js";

/** Every scenario, in the order `npm run faults` runs them. */
export const ALL_SCENARIOS: readonly Scenario[] = [
  brokerSigkillMidCommand,
  brokerEmptyStore,
  brokerFrozen,
  agentSigkillMidCommand,
  spawnHelperSigkillMidCommand,
  partitionDuringResultPublish,
  blackholeBeyondPing,
  consumerDeletedDuringReplay,
  streamDeletedRecreated,
  outboxFull,
  commandStorm,
  clockJumpDeadline,
  lameDuckCluster,
  clusterKillTwoNodes,
];

/** The subset `npm test` runs (test/faults/scenarios.test.ts), at fast scale. */
export const FAST_SCENARIOS: readonly Scenario[] = ALL_SCENARIOS.filter((s) => s.fast);
