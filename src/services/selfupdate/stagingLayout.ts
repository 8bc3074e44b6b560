import { join } from "node:path";

/** Where the self-updater keeps its files, under `<data_dir>/staging/` (behavior.md 15.5–15.8). */
export interface StagingLayout {
  root: string;
  stateFile: string;
  downloads: string;
  releases: string;
}

export function stagingLayout(stagingDir: string): StagingLayout {
  return {
    root: stagingDir,
    stateFile: join(stagingDir, "state.json"),
    downloads: join(stagingDir, "downloads"),
    releases: join(stagingDir, "releases"),
  };
}

/** `staging/downloads/<version>.part` (behavior.md 15.5). */
export const downloadPath = (s: StagingLayout, version: string): string =>
  join(s.downloads, `${version}.part`);

/** `staging/releases/<version>/`: an unpacked, checked release. */
export const releaseDir = (s: StagingLayout, version: string): string => join(s.releases, version);

/** `staging/releases/<version>.tmp/`: a release being unpacked. */
export const unpackDir = (s: StagingLayout, version: string): string =>
  join(s.releases, `${version}.tmp`);
