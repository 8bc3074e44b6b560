import type { MsgHdrs } from "@nats-io/nats-core";

/** One command message as it entered the agent, before any decision (behavior.md 5.1). */
export interface IntakeMessage {
  source: "live" | "replay";
  subject: string;
  data: Uint8Array;
  headers?: MsgHdrs;
  /** Wall-clock epoch ms of receipt. */
  receivedAt: number;
  /** Replay only: acknowledges the JetStream message (9.3). Not called when admission fails. */
  ack?: () => void;
}
