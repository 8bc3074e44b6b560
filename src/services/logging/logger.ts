import { pino } from "pino";

export type Logger = pino.Logger;
export type LogLevel = "error" | "warn" | "info" | "debug" | "trace";

/**
 * Structured JSON logger. The file sink with daily rotation is added by the logging service;
 * this is the shape every service receives: `log.child({ request_id, exec_id })` for lines about
 * a command.
 */
export function createLogger(
  opts: { level?: LogLevel; destination?: pino.DestinationStream } = {},
): Logger {
  return pino(
    {
      level: opts.level ?? "info",
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    opts.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

/** A logger that drops everything, for tests that do not look at logs. */
export const silentLogger = (): Logger => pino({ level: "silent" });
