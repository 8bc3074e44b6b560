// Exit codes of the operator CLI and the one error type its verbs throw. Every failure reaches
// the user as one line on stderr; the exit code tells scripts what kind of failure it was.

/**
 * 0 ok, 1 the operation failed, 2 usage error, 3 cannot connect to NATS. `kanade run` also
 * passes the script's exit code through (0–255; anything else → 1) and exits
 * `RUN_NO_RESULT` when no result arrived in time.
 */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  connect: 3,
  /**
   * `kanade run` got no result within timeout + 10 s. Below the agent's synthetic codes
   * (120–127, passed through like any exit code) so the two can never be confused.
   */
  runNoResult: 119,
} as const;

/** A failure with the exit code it maps to; the message is shown as is, on one line. */
export class CliError extends Error {
  override readonly name = "CliError";
  constructor(
    readonly exitCode: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const usageError = (message: string): CliError => new CliError(EXIT.usage, message);
export const failed = (message: string, cause?: unknown): CliError =>
  new CliError(EXIT.failed, message, cause === undefined ? undefined : { cause });

/** The message of anything thrown, folded to one line (library errors may span several). */
export function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/\s*\n\s*/g, " ").trim() || (err instanceof Error ? err.name : "error");
}

/** Runs `f`, turning any non-CliError into a failure that says what was being done. */
export async function doing<T>(what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw failed(`${what}: ${oneLine(err)}`, err);
  }
}
