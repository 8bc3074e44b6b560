import { pino } from "pino";

export type Logger = pino.Logger;
export type LogLevel = "error" | "warn" | "info" | "debug" | "trace";

/**
 * Fields that hold secrets are never written (behavior.md 20.2), wherever a caller puts them:
 * top level or one object down (`{ auth: { token } }`).
 */
export const REDACTED_PATHS: readonly string[] = [
  "token",
  "password",
  "nkey",
  "seed",
  "*.token",
  "*.password",
  "*.nkey",
  "*.seed",
];

/** The pino options every agent logger shares: JSON lines, ISO time, level names, redaction. */
export function loggerOptions(level: LogLevel | "fatal" = "info"): pino.LoggerOptions {
  return {
    level,
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: [...REDACTED_PATHS], censor: "[redacted]" },
  };
}

/**
 * Structured JSON logger to stdout (or `destination`). The daemon's logger with the daily file
 * is `createAgentLogger` (agentLogger.ts); both have this shape, and every service receives it:
 * `log.child({ request_id, exec_id })` for lines about a command.
 */
export function createLogger(
  opts: { level?: LogLevel; destination?: pino.DestinationStream } = {},
): Logger {
  return pino(
    loggerOptions(opts.level),
    opts.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

/** A logger that drops everything, for tests that do not look at logs. */
export const silentLogger = (): Logger => pino({ level: "silent" });
