// Staleness policy (wire.md §4.2), shared by Command and Manifest.
import { z } from "zod";
import { defaulted, str } from "./schema.js";
import type { Staleness } from "./types.js";

const wireStaleness = z.discriminatedUnion("mode", [
  z.object({ mode: z.literal("cached") }),
  z.object({ mode: z.literal("unchecked") }),
  // max_cache_age stays a raw string: an unparseable one decodes and fails closed at run time.
  z.object({ mode: z.literal("strict"), max_cache_age: str }),
]);

const toStaleness = (wire: z.output<typeof wireStaleness>): Staleness =>
  wire.mode === "strict"
    ? { mode: "strict", maxCacheAge: wire.max_cache_age }
    : { mode: wire.mode };

/** "defaulted, `{"mode":"cached"}`". */
export const stalenessSchema = defaulted(wireStaleness, { mode: "cached" }).transform(toStaleness);

export function encodeStaleness(s: Staleness): Record<string, unknown> {
  return s.mode === "strict" ? { mode: "strict", max_cache_age: s.maxCacheAge } : { mode: s.mode };
}
