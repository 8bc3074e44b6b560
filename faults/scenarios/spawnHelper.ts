import { defineScenario } from "../dsl.js";

export const spawnHelperSigkillMidCommand = defineScenario(
  "spawn-helper-sigkill-mid-command",
  async (s) => {
    await s.startBroker();
    await s.startAgent("pc-a");
    // The helper forks this one; its death leaves nobody to tell the exit code: -1, once.
    const running = await s.publishCommand({ pc: "pc-a" }, s.sleepScript(30), { exitCode: -1 });
    await s.waitFor({ running });
    await s.sleep(s.between(0, 1_000));
    await s.killSpawnHelper("pc-a");
    // The next command gets a new helper.
    const after = await s.publishCommand({ pc: "pc-a" }, "true", { exitCode: 0 });
    await s.expectResults({ exactlyOnce: [running, after] });
    // The orphaned 30 s sleep was killed with its process group, not left to run.
    await s.expectNoProcessesLeft(2_000);
    await s.expectAgentAlive();
  },
  {
    fast: true,
    description: "spawn helper SIGKILLed mid-run: exit -1 once, script killed, next command runs",
  },
);
