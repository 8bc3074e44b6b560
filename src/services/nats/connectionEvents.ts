/** What the client's status stream tells the connection chart (behavior.md §2.3). */
export type ConnectionStatusEvent =
  | { type: "DISCONNECTED"; server: string }
  | { type: "RECONNECTING" }
  | { type: "RECONNECTED"; server: string }
  | { type: "STALE" }
  | { type: "LAME_DUCK"; server: string }
  | { type: "SERVER_ERROR"; message: string }
  | { type: "CLOSED"; message?: string };
