import { closeSync, openSync, writeSync } from "node:fs";
import type { InspectionEvent } from "xstate";
import { stateValueText } from "../wire/agentState.js";

/** An inspect log stops growing here (a line says so) rather than fill the disk. */
const MAX_LOG_BYTES = 256 * 1024 * 1024;

/** One line of an inspect log: compact, JSON-safe, enough to replay the transitions offline. */
export interface InspectRecord {
  /** Epoch ms. */
  t: number;
  kind: "actor" | "event" | "snapshot";
  /** The actor's path in the tree: `agent/connection`, `agent/command#<request_id>`. */
  actor: string;
  /** Snapshot: the state value (`open.connected.healthy`) and status. */
  value?: string;
  status?: string;
  /** Event: its type, and the sending actor's path when known. */
  event?: string;
  source?: string;
}

interface RefLike {
  id?: string;
  _parent?: RefLike;
}

export function actorPath(ref: unknown): string {
  const parts: string[] = [];
  let r = ref as RefLike | undefined;
  while (r) {
    parts.unshift(r.id ?? "?");
    r = r._parent;
  }
  return parts.join("/");
}

export function toInspectRecord(e: InspectionEvent, now: number): InspectRecord | null {
  const actor = actorPath(e.actorRef);
  switch (e.type) {
    case "@xstate.actor":
      return { t: now, kind: "actor", actor };
    case "@xstate.event":
      return {
        t: now,
        kind: "event",
        actor,
        event: e.event.type,
        ...(e.sourceRef ? { source: actorPath(e.sourceRef) } : {}),
      };
    case "@xstate.snapshot": {
      const snap = e.snapshot as { value?: unknown; status?: string };
      if (snap.value === undefined) return null; // callback and promise actors have no states
      return {
        t: now,
        kind: "snapshot",
        actor,
        value: stateValueText(snap.value),
        status: snap.status,
      };
    }
    default:
      return null;
  }
}

/** `--inspect-log <file>`: every inspection event as one JSON line, written synchronously. */
export function openInspectLog(
  path: string,
  now: () => number = Date.now,
): { observe: (e: InspectionEvent) => void; close: () => void } {
  const fd = openSync(path, "a", 0o600);
  let bytes = 0;
  let full = false;
  return {
    observe(e) {
      if (full) return;
      const rec = toInspectRecord(e, now());
      if (!rec) return;
      const line = `${JSON.stringify(rec)}\n`;
      bytes += Buffer.byteLength(line);
      if (bytes > MAX_LOG_BYTES) {
        full = true;
        writeSync(
          fd,
          `${JSON.stringify({ t: now(), kind: "truncated", actor: "", note: "inspect log reached 256 MiB" })}\n`,
        );
        return;
      }
      writeSync(fd, line);
    },
    close: () => closeSync(fd),
  };
}

/** Per actor, its state changes in order — what `kanade inspect-log summarize` prints. */
export function summarizeInspectLog(
  lines: Iterable<string>,
): Map<string, { t: number; value: string }[]> {
  const out = new Map<string, { t: number; value: string }[]>();
  for (const line of lines) {
    if (!line.trim()) continue;
    let rec: InspectRecord;
    try {
      rec = JSON.parse(line) as InspectRecord;
    } catch {
      continue;
    }
    if (rec.kind !== "snapshot" || rec.value === undefined) continue;
    const list = out.get(rec.actor) ?? [];
    const value =
      rec.status && rec.status !== "active" ? `${rec.value} (${rec.status})` : rec.value;
    if (list.at(-1)?.value !== value) list.push({ t: rec.t, value });
    out.set(rec.actor, list);
  }
  return out;
}
