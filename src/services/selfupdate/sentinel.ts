// The boot sentinel's rules (behavior.md 15.7–15.11) as pure functions over the recorded state, so
// the launcher, the swap and the health watch apply the same ones and tests can walk them.

import type { EpochMs, ReleaseState } from "../wire/types.js";

/** 15.9: this many starts that ended unconfirmed roll the release back. */
export const MAX_UNCONFIRMED_BOOTS = 3;
/** Quarantine bound; each entry is a release that was rolled back, so this is never reached. */
export const MAX_QUARANTINED = 100;

export type LaunchEvent =
  /** `current` names a folder that is gone: the base install runs instead. */
  | { kind: "missing"; version: string }
  /** `pending` named another version than `current` (hand-edited file): dropped. */
  | { kind: "strayPending"; version: string }
  /** 15.9/15.11: three unconfirmed starts; `to` null is the base install. */
  | { kind: "rolledBack"; from: string; to: string | null; boots: number }
  /** A fresh release starts unconfirmed for the `boots`-th time. */
  | { kind: "unconfirmedBoot"; version: string; boots: number };

export interface LaunchPlan {
  /** The release to run; null is the base install. */
  run: string | null;
  /** The state to persist before running it. */
  state: ReleaseState;
  /** Whether `state` differs from the recorded one (persist only then). */
  changed: boolean;
  events: LaunchEvent[];
}

/**
 * What the launcher runs (15.9): `current` if its folder exists, else the base install; a pending
 * release that already had three unconfirmed starts is rolled back first, otherwise its boot
 * count goes up by one.
 */
export function planLaunch(
  recorded: ReleaseState,
  hasRelease: (version: string) => boolean,
): LaunchPlan {
  let s: ReleaseState = { ...recorded, quarantined: [...recorded.quarantined] };
  const events: LaunchEvent[] = [];

  if (s.pending && s.pending.version !== s.current) {
    events.push({ kind: "strayPending", version: s.pending.version });
    s = { ...s, pending: null };
  }
  if (s.current !== null && !hasRelease(s.current)) {
    events.push({ kind: "missing", version: s.current });
    s = { ...s, current: null, pending: null };
  }
  if (s.current !== null && s.pending !== null) {
    if (s.pending.boots >= MAX_UNCONFIRMED_BOOTS) {
      const from = s.current;
      const boots = s.pending.boots;
      s = rollBack(s);
      if (s.current !== null && !hasRelease(s.current)) {
        events.push({ kind: "missing", version: s.current });
        s = { ...s, current: null };
      }
      events.push({ kind: "rolledBack", from, to: s.current, boots });
    } else {
      const version = s.current;
      const boots = s.pending.boots + 1;
      s = { ...s, pending: { ...s.pending, boots } };
      events.push({ kind: "unconfirmedBoot", version, boots });
    }
  }
  return { run: s.current, state: s, changed: !sameState(s, recorded), events };
}

/** 15.7: the state that makes `target` run at the next start, unconfirmed. */
export function armRelease(s: ReleaseState, target: string, now: EpochMs): ReleaseState {
  return {
    current: target,
    previous: s.current,
    pending: { version: target, armedAt: now, boots: 0 },
    quarantined: [...s.quarantined],
  };
}

/**
 * 15.11: `current` ← `previous`, the failed release joins the quarantine (sorted, unique), nothing
 * pending. The base install (current null) is never quarantined.
 */
export function rollBack(s: ReleaseState): ReleaseState {
  const failed = s.current;
  return {
    current: s.previous,
    previous: s.previous,
    pending: null,
    quarantined: failed === null ? [...s.quarantined] : quarantine(s.quarantined, failed),
  };
}

/** 15.10: the release `version` proved healthy; a no-op when it is not the pending one. */
export function confirmRelease(s: ReleaseState, version: string): ReleaseState {
  if (s.pending?.version !== version) return s;
  return { ...s, pending: null };
}

/** Whether `version` runs unconfirmed and must prove its health (15.10). */
export const isPending = (s: ReleaseState, version: string): boolean =>
  s.current === version && s.pending?.version === version;

/** The release folders a start keeps (15.7); every other folder under `releases/` goes. */
export function keptReleases(s: ReleaseState): Set<string> {
  const keep = new Set<string>();
  if (s.current !== null) keep.add(s.current);
  if (s.previous !== null) keep.add(s.previous);
  return keep;
}

function quarantine(list: readonly string[], version: string): string[] {
  const all = [...new Set([...list, version])].sort();
  if (all.length <= MAX_QUARANTINED) return all;
  // Keep the newest failure; drop the first others in sort order.
  const others = all.filter((v) => v !== version);
  return [...others.slice(others.length - (MAX_QUARANTINED - 1)), version].sort();
}

function sameState(a: ReleaseState, b: ReleaseState): boolean {
  return (
    a.current === b.current &&
    a.previous === b.previous &&
    a.pending?.version === b.pending?.version &&
    a.pending?.armedAt === b.pending?.armedAt &&
    a.pending?.boots === b.pending?.boots &&
    a.quarantined.length === b.quarantined.length &&
    a.quarantined.every((v, i) => v === b.quarantined[i])
  );
}
