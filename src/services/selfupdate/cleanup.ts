import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { StagingLayout } from "./stagingLayout.js";

export interface CleanupOutcome {
  removed: string[];
  failures: { path: string; reason: string }[];
}

/**
 * behavior.md 15.7: at start, release folders other than `keep` (current and previous) and every
 * leftover download (`.part`) or half-unpacked folder (`.tmp`) are deleted. Failures are reported,
 * never thrown: a folder that cannot be removed now goes at a later start.
 */
export async function cleanStaging(
  s: StagingLayout,
  keep: ReadonlySet<string>,
): Promise<CleanupOutcome> {
  const out: CleanupOutcome = { removed: [], failures: [] };
  const remove = async (path: string) => {
    try {
      await rm(path, { recursive: true, force: true });
      out.removed.push(path);
    } catch (err) {
      out.failures.push({ path, reason: (err as Error).message });
    }
  };
  for (const name of await readdir(s.releases).catch(() => [] as string[])) {
    if (!keep.has(name)) await remove(join(s.releases, name));
  }
  for (const name of await readdir(s.downloads).catch(() => [] as string[])) {
    await remove(join(s.downloads, name));
  }
  return out;
}
