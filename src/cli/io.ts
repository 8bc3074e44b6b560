// What a CLI run talks to besides NATS: its output streams, environment, clock and the Ctrl-C
// signal. `main.ts` binds it to the process; tests pass their own and read what was written.
import { randomUUID } from "node:crypto";
import { type Clock, systemClock } from "../services/time/clock.js";

export interface TextSink {
  write(text: string): void;
}

export interface CliIo {
  stdout: TextSink;
  stderr: TextSink;
  /** Whether stdout / stderr are terminals (live redraws, spinners). */
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
  env: Readonly<Record<string, string | undefined>>;
  clock: Clock;
  /** A fresh lowercase UUID v4 (request and exec ids). */
  newId(): string;
  /** Aborted on Ctrl-C; long waits (`agents --watch`, `run`) end on it. */
  signal: AbortSignal;
}

/** The process's own streams; `signal` is aborted by the caller's SIGINT handler. */
export function processIo(signal: AbortSignal): CliIo {
  return {
    stdout: { write: (s) => process.stdout.write(s) },
    stderr: { write: (s) => process.stderr.write(s) },
    stdoutIsTTY: process.stdout.isTTY === true,
    stderrIsTTY: process.stderr.isTTY === true,
    env: process.env,
    clock: systemClock,
    newId: () => randomUUID(),
    signal,
  };
}
