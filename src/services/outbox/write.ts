import { encodeEventStarted } from "../wire/eventStarted.js";
import type { EventStarted, ExecResult } from "../wire/types.js";
import { type CapturedOutput, resultFileContent } from "./resultFile.js";
import type { OutboxStore } from "./store.js";

/**
 * Queues a result in `outbox/` (behavior.md 8.1). With the captured output, the file keeps what
 * fitting needs to upload or truncate it correctly at publish time. Returns the file name.
 */
export function writeResult(
  store: OutboxStore,
  result: ExecResult,
  output?: CapturedOutput,
): Promise<string> {
  const c = resultFileContent(result, output);
  return store.write(c.payload, c.privateMembers);
}

/** Queues a started event in `events-outbox/` (behavior.md 8.1). Returns the file name. */
export function writeStartedEvent(store: OutboxStore, event: EventStarted): Promise<string> {
  return store.write(encodeEventStarted(event));
}
