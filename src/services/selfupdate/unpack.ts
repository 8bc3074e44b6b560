// behavior.md 15.6: unpack a downloaded release into `releases/<v>.tmp/`, refusing anything that
// could write outside it or is not a plain file or folder, check the manifest, rename into place.

import { createReadStream } from "node:fs";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { createGunzip } from "node:zlib";
import { ReleaseRejected } from "./errors.js";
import { checkReleaseFolder, type ReleaseManifest, relativePathProblem } from "./releasePackage.js";
import { releaseDir, type StagingLayout, unpackDir } from "./stagingLayout.js";
import type { TarEntry } from "./tarReader.js";
import { walkTar } from "./tarReader.js";

export interface UnpackLimits {
  maxEntries: number;
  /** Sum of the files' sizes: a small gzip may inflate to anything. */
  maxTotalBytes: number;
}

export const DEFAULT_UNPACK_LIMITS: UnpackLimits = {
  maxEntries: 10_000,
  maxTotalBytes: 1024 * 1024 * 1024,
};

/** Failures of the disk itself are worth a retry; anything else about the archive is not. */
const TRANSIENT_FS_CODES = new Set([
  "ENOSPC",
  "EDQUOT",
  "EIO",
  "EACCES",
  "EPERM",
  "EMFILE",
  "ENFILE",
  "EROFS",
  "EBUSY",
]);

/**
 * The folder-relative path an archive member unpacks to (npm-pack layout: under `package/`), or
 * the reason it is refused. null path means the `package/` folder itself.
 */
export function memberPath(name: string): { rel: string | null } | { problem: string } {
  const trimmed = name.replace(/^(\.\/)+/, "").replace(/\/+$/, "");
  if (trimmed === "package") return { rel: null };
  if (!trimmed.startsWith("package/")) {
    const why = relativePathProblem(trimmed);
    return { problem: `${JSON.stringify(name)} ${why ?? "is outside package/"}` };
  }
  const rel = trimmed.slice("package/".length);
  const why = relativePathProblem(rel);
  return why === null ? { rel } : { problem: `${JSON.stringify(name)} ${why}` };
}

/**
 * Unpacks the gzip tar `archive` for `version` into `releases/<version>.tmp/`, checks it and
 * renames it to `releases/<version>/` (replacing an older copy). Throws ReleaseRejected for an
 * invalid package; other errors (disk full…) are worth a retry.
 */
export async function unpackRelease(opts: {
  staging: StagingLayout;
  archive: string;
  version: string;
  limits?: UnpackLimits;
}): Promise<{ dir: string; manifest: ReleaseManifest }> {
  const { staging, archive, version } = opts;
  const limits = opts.limits ?? DEFAULT_UNPACK_LIMITS;
  const tmp = unpackDir(staging, version);
  const final = releaseDir(staging, version);
  const reject = (reason: string) => new ReleaseRejected(version, reason);

  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true, mode: 0o755 });
  try {
    try {
      await extract(archive, tmp, limits, reject);
    } catch (err) {
      if (err instanceof ReleaseRejected) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== undefined && TRANSIENT_FS_CODES.has(code)) throw err;
      throw reject(`not a valid package: ${(err as Error).message}`);
    }
    const checked = await checkReleaseFolder(tmp, version);
    if ("problem" in checked) throw reject(checked.problem);
    await rm(final, { recursive: true, force: true });
    await rename(tmp, final);
    return { dir: final, manifest: checked.manifest };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
    throw err;
  }
}

async function extract(
  archive: string,
  dest: string,
  limits: UnpackLimits,
  reject: (reason: string) => ReleaseRejected,
): Promise<void> {
  const source = createReadStream(archive).pipe(createGunzip());
  let entries = 0;
  let total = 0;
  try {
    await walkTar(source, async (entry: TarEntry, body) => {
      if (++entries > limits.maxEntries)
        throw reject(`more than ${limits.maxEntries} entries in the archive`);
      const where = memberPath(entry.path);
      if ("problem" in where) throw reject(`archive member ${where.problem}`);
      if (entry.type === "directory") {
        if (where.rel !== null) await mkdir(join(dest, where.rel), { recursive: true });
        return;
      }
      if (entry.type !== "file")
        throw reject(`archive member ${JSON.stringify(entry.path)} is a ${entry.type}`);
      if (where.rel === null) throw reject("archive member package/ is a file");
      total += entry.size;
      if (total > limits.maxTotalBytes)
        throw reject(`unpacks to more than ${limits.maxTotalBytes} bytes`);
      const path = join(dest, where.rel);
      await mkdir(dirname(path), { recursive: true });
      const executable = (entry.mode & 0o111) !== 0;
      const fh = await open(path, "w", executable ? 0o755 : 0o644);
      try {
        for await (const chunk of body) await fh.write(chunk);
        await fh.sync();
      } finally {
        await fh.close();
      }
    });
  } finally {
    source.destroy();
  }
}
