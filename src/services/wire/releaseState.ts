// `staging/state.json` (behavior.md 15.8), the self-updater's record of releases.
import { z } from "zod";
import type { Decoded } from "./decoded.js";
import { decodeWith, defaulted, nullWhenEmpty, str, timestamp, u32 } from "./schema.js";
import { formatTimestamp } from "./timestamp.js";
import type { ReleaseState } from "./types.js";

/** What a missing file means: the base install, nothing pending, nothing quarantined. */
export const emptyReleaseState = (): ReleaseState => ({
  current: null,
  previous: null,
  pending: null,
  quarantined: [],
});

const wirePending = z.object({ version: str, armed_at: timestamp, boots: u32 });

const wireReleaseState = z.object({
  current: nullWhenEmpty(str),
  previous: nullWhenEmpty(str),
  pending: wirePending.nullish().transform((p) => p ?? null),
  quarantined: defaulted(z.array(str), []),
});

export function decodeReleaseState(value: unknown): Decoded<ReleaseState> {
  const decoded = decodeWith(wireReleaseState, value);
  if (!decoded.ok) return decoded;
  const w = decoded.value;
  return {
    ok: true,
    value: {
      current: w.current,
      previous: w.previous,
      pending: w.pending && {
        version: w.pending.version,
        armedAt: w.pending.armed_at,
        boots: w.pending.boots,
      },
      quarantined: w.quarantined,
    },
  };
}

export function encodeReleaseState(s: ReleaseState): Record<string, unknown> {
  return {
    current: s.current,
    previous: s.previous,
    pending: s.pending && {
      version: s.pending.version,
      armed_at: formatTimestamp(s.pending.armedAt),
      boots: s.pending.boots,
    },
    quarantined: [...s.quarantined],
  };
}
