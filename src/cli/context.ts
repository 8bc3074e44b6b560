// What every verb's action gets: the global options resolved, output helpers that honour
// --json, and a scoped NATS connection that is always closed again.
import type { NatsConnection } from "@nats-io/nats-core";
import type { Command } from "commander";
import { connectNats, type NatsTarget, natsTarget } from "./connect.js";
import { withProgress } from "./format/progress.js";
import type { CliIo } from "./io.js";

export interface GlobalOptions {
  nats?: string;
  json?: boolean;
}

export interface CliContext {
  readonly io: CliIo;
  /** --json: one JSON document per line on stdout instead of text. */
  readonly json: boolean;
  readonly target: NatsTarget;
  /** Connects (exit 3 on failure), runs `f`, then closes the connection whatever happened. */
  withNats<T>(f: (nc: NatsConnection) => Promise<T>): Promise<T>;
  /** Text for humans on stdout (a newline is added when missing). */
  print(text: string): void;
  /** One JSON document on one line on stdout. */
  printJson(value: unknown): void;
  /** `kanade: warning: …` on stderr. */
  warn(text: string): void;
}

/** Draining may wait on a slow broker; the CLI never hangs on it for longer than this. */
const CLOSE_TIMEOUT_MS = 2_000;

/** Drains (flushing what was published), closes when that takes too long; leaves no timer. */
async function closeBounded(nc: NatsConnection, ms: number): Promise<void> {
  if (nc.isClosed()) return;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  try {
    await Promise.race([nc.drain().catch(() => nc.close()), late]);
  } finally {
    clearTimeout(timer);
  }
  if (!nc.isClosed()) await nc.close().catch(() => {});
}

export function createContext(io: CliIo, opts: GlobalOptions): CliContext {
  const target = natsTarget(opts.nats, io.env);
  return {
    io,
    json: opts.json === true,
    target,
    async withNats(f) {
      const nc = await withProgress(io, `connecting to ${target.url}`, () => connectNats(target));
      try {
        return await f(nc);
      } finally {
        await closeBounded(nc, CLOSE_TIMEOUT_MS);
      }
    },
    print(text) {
      io.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
    },
    printJson(value) {
      io.stdout.write(`${JSON.stringify(value)}\n`);
    },
    warn(text) {
      io.stderr.write(`kanade: warning: ${text}\n`);
    },
  };
}

/** Runs a verb's body with its context; the number it returns becomes the exit code. */
export type Runner = (cmd: Command, body: (ctx: CliContext) => Promise<number>) => Promise<void>;
