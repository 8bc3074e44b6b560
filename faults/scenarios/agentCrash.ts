import { defineScenario } from "../dsl.js";

export const agentSigkillMidCommand = defineScenario(
  "agent-sigkill-mid-command",
  async (s) => {
    await s.startBroker();
    await s.startAgent("pc-a");
    const running = await s.publishCommand({ pc: "pc-a" }, s.sleepScript(2), { exitCode: 121 });
    await s.waitFor({ running });
    await s.sleep(s.between(0, 1_000));
    await s.killAgent("pc-a", "SIGKILL");
    // Published while no agent runs: only the durable replay can bring it.
    const whileDown = await s.publishCommand({ pc: "pc-a" }, "true", { exitCode: 0 });
    await s.sleep(s.between(0, 1_500));
    await s.restartAgent("pc-a");
    // 6.6: `running` with no result file → exit 121 "outcome unknown", never run again.
    await s.expectResults({ exactlyOnce: [running, whileDown] });
    // The SIGKILLed agent could not take its child along (it leads its own process group); the
    // child ends on its own, within its 2 s sleep.
    await s.expectNoProcessesLeft(5_000);
    await s.expectAgentAlive();
  },
  {
    fast: true,
    description: "agent SIGKILLed mid-run and restarted: exit 121 once, the queued command once",
  },
);
