// Publish failures (behavior.md 8.4). Systemic ones say nothing about the file: the pass ends and
// the file is not blamed. Counted ones are the server refusing this very message.

export type FailureClass = "systemic" | "counted";

/** There is no open connection to publish on. */
export class NotConnectedError extends Error {
  override readonly name = "NotConnectedError";
  constructor(what = "not connected to the broker") {
    super(what);
  }
}

/** The result cannot be made to fit under `max_payload` (its fixed members alone are too big). */
export class PayloadTooLargeError extends Error {
  override readonly name = "PayloadTooLargeError";
}

// The connection itself failed: nothing about the message or the stream is known.
const TRANSPORT = new Set([
  "NotConnectedError",
  "ClosedConnectionError",
  "DrainingConnectionError",
  "ConnectionError",
  "TimeoutError",
]);

// Matched by name: the nats.js error classes are not all exported, and names survive duplicate
// copies of a package.
const SYSTEMIC = new Set([
  "NotConnectedError",
  "ClosedConnectionError",
  "DrainingConnectionError",
  "ConnectionError",
  "TimeoutError",
  "NoResponders",
  "JetStreamNotEnabled",
  // The stream that should capture the subject is missing: it may be created any time.
  "StreamNotFoundError",
]);

const SERVICE_UNAVAILABLE = 503;

/** Whether the error means "nobody listens": no stream captures the subject, or no JetStream. */
export function isNoResponders(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e.name === "NoResponders" || e.name === "JetStreamNotEnabled") return true;
    if (e.name === "RequestError" && e.cause instanceof Error && e.cause.name === "NoResponders") {
      return true;
    }
  }
  return false;
}

export function classifyPublishError(err: unknown): FailureClass {
  if (!(err instanceof Error)) return "counted";
  if (SYSTEMIC.has(err.name) || isNoResponders(err)) return "systemic";
  if (err.name === "RequestError") {
    // A request that failed for a transport reason carries it as its cause.
    return err.cause instanceof Error && SYSTEMIC.has(err.cause.name) ? "systemic" : "counted";
  }
  if (err.name === "JetStreamApiError") {
    const status = (err as Error & { status?: number }).status;
    return status === SERVICE_UNAVAILABLE ? "systemic" : "counted";
  }
  // Error PubAcks, size errors (InvalidArgumentError "max_payload size exceeded"), permission
  // violations and anything unexpected: the file is blamed, and set aside after enough tries.
  return "counted";
}

/** The connection failed (as opposed to the server answering no). */
export function isTransportError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (TRANSPORT.has(err.name)) return true;
  return err.name === "RequestError" && err.cause instanceof Error && TRANSPORT.has(err.cause.name);
}

export const describeError = (err: unknown): string =>
  err instanceof Error ? `${err.name}: ${err.message}` : String(err);
