import { join } from "node:path";
import { checkReleaseFolder } from "../services/selfupdate/releasePackage.js";
import { releaseVersionProblem } from "../services/selfupdate/releaseVersion.js";
import { type LaunchPlan, planLaunch } from "../services/selfupdate/sentinel.js";
import { releaseDir, type StagingLayout } from "../services/selfupdate/stagingLayout.js";
import { readReleaseState, writeReleaseState } from "../services/selfupdate/stateFile.js";

export interface LaunchChoice {
  /** The staged release to run; null is the base install. */
  version: string | null;
  /** Absolute path of the release's entry module; null for the base install. */
  entry: string | null;
  plan: LaunchPlan;
  /** Why state.json was unusable (it then reads as empty), or null. */
  stateProblem: string | null;
  /** Why the new state could not be written, or null. */
  persistProblem: string | null;
}

/**
 * behavior.md 15.9 on disk: reads state.json, checks which of `current` and `previous` are intact
 * release folders, plans the start and (with `persist`) records it before any release code runs.
 */
export async function chooseRelease(
  staging: StagingLayout,
  opts: { persist: boolean },
): Promise<LaunchChoice> {
  const read = await readReleaseState(staging);
  const entries = new Map<string, string>();
  for (const v of [read.state.current, read.state.previous]) {
    if (v === null || entries.has(v) || releaseVersionProblem(v) !== null) continue;
    const dir = releaseDir(staging, v);
    const checked = await checkReleaseFolder(dir, v);
    if ("manifest" in checked) entries.set(v, join(dir, checked.manifest.main));
  }
  const plan = planLaunch(read.state, (v) => entries.has(v));
  let persistProblem: string | null = null;
  if (opts.persist && plan.changed) {
    try {
      await writeReleaseState(staging, plan.state);
    } catch (err) {
      persistProblem = `cannot write ${staging.stateFile}: ${(err as Error).message}`;
    }
  }
  return {
    version: plan.run,
    entry: plan.run === null ? null : (entries.get(plan.run) ?? null),
    plan,
    stateProblem: read.problem,
    persistProblem,
  };
}
