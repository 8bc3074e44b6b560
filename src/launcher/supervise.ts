// `kanade-agent --supervise`: a small stand-in for systemd's `Restart=always` when running by hand
// or in dev mode. It runs the launcher as a child and starts it again when it exits non-zero, at
// once after 64 ("restart me"), with a growing pause after a crash.

import { spawn } from "node:child_process";
import { NODE_FLAGS } from "./nodeFlags.js";

export interface SuperviseOptions {
  /** The script to run with node (the launcher's entry). */
  entry: string;
  args: readonly string[];
  /** Where the supervisor's own lines go. */
  say?: (line: string) => void;
}

/** Exit codes of behavior.md 1.1. */
const EXIT_RESTART = 64;
const EXIT_USAGE = 2;
const FIRST_PAUSE_MS = 1_000;
const MAX_PAUSE_MS = 30_000;
/** A child that ran this long was not crash-looping: the pause starts small again. */
const HEALTHY_RUN_MS = 60_000;

/**
 * Runs the agent until it stops for good; resolves with the exit code to leave with. SIGINT and
 * SIGTERM are passed to the child, whose exit then ends the supervisor. Exit 2 (usage or config
 * error) is not retried: starting again cannot fix the file.
 */
export async function supervise(o: SuperviseOptions): Promise<number> {
  const say = o.say ?? ((line) => process.stderr.write(`kanade-agent supervisor: ${line}\n`));
  let stopping = false;
  let child: ReturnType<typeof spawn> | undefined;
  const forward = (signal: NodeJS.Signals) => {
    stopping = true;
    child?.kill(signal);
  };
  process.on("SIGINT", forward);
  process.on("SIGTERM", forward);
  let pause = FIRST_PAUSE_MS;
  try {
    for (;;) {
      const started = Date.now();
      child = spawn(process.execPath, [...NODE_FLAGS, o.entry, ...o.args], { stdio: "inherit" });
      const { code, signal } = await new Promise<{
        code: number | null;
        signal: NodeJS.Signals | null;
      }>((resolve) => {
        child?.once("exit", (c, s) => resolve({ code: c, signal: s }));
        child?.once("error", () => resolve({ code: 1, signal: null }));
      });
      if (stopping) return code ?? 1;
      if (code === 0) return 0;
      if (code === EXIT_USAGE) return EXIT_USAGE;
      if (code === EXIT_RESTART) {
        say("agent asked for a restart (exit 64); starting it again");
        pause = FIRST_PAUSE_MS;
        continue;
      }
      if (Date.now() - started >= HEALTHY_RUN_MS) pause = FIRST_PAUSE_MS;
      say(`agent exited (${signal ?? `code ${code}`}); starting it again in ${pause} ms`);
      await new Promise((r) => setTimeout(r, pause));
      if (stopping) return code ?? 1;
      pause = Math.min(pause * 2, MAX_PAUSE_MS);
    }
  } finally {
    process.off("SIGINT", forward);
    process.off("SIGTERM", forward);
  }
}
