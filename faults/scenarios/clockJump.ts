import { defineScenario } from "../dsl.js";

const HOUR_MS = 3_600_000;

export const clockJumpDeadline = defineScenario(
  "clock-jump-deadline",
  async (s) => {
    await s.startBroker();
    await s.startAgent("pc-a", { faketime: true });
    // Running when the clock jumps: its 10 s timeout is monotonic, so a one-hour jump must not
    // fire it, and its deadline was met at admission.
    const running = await s.publishCommand({ pc: "pc-a" }, s.sleepScript(4), {
      deadlineInMs: 60_000,
      timeoutSecs: 10,
      exitCode: 0,
    });
    await s.waitFor({ running });
    const mode = await s.clockJump(HOUR_MS);
    s.note(
      mode === "faketime"
        ? "agent wall clock really jumped +1 h (libfaketime); monotonic time untouched"
        : "libfaketime not available: deadlines computed from a clock 1 h behind the agent's " +
            "(proves the deadline gate uses the agent's wall clock; not that a running command " +
            "survives a real jump)",
    );
    // The backend's deadline is 10 min away by its clock, an hour gone by the agent's: exit 125.
    const late = await s.publishCommand({ pc: "pc-a" }, "true", {
      deadlineInMs: 600_000,
      expect: "skipped",
      exitCode: 125,
    });
    const inTime = await s.publishCommand({ pc: "pc-a" }, "true", {
      deadlineInMs: 2 * HOUR_MS,
      exitCode: 0,
    });
    await s.expectResults({ exactlyOnce: [running, inTime], skipped: [late] });
    await s.expectNoProcessesLeft();
    await s.expectAgentAlive();
  },
  {
    fast: true,
    description: "wall clock +1 h during a deadline-bound run: run unharmed, late deadline 125",
  },
);
