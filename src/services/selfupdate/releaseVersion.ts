// A target_version names a folder under `staging/releases/` and a file under `staging/downloads/`,
// so it must be one safe path segment on every OS before it touches the disk.

const MAX_VERSION_LENGTH = 128;
const SAFE = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;
const STAGING_SUFFIXES = [".tmp", ".part"];

/** Why `version` cannot be staged, or null when it can. */
export function releaseVersionProblem(version: string): string | null {
  if (version.length === 0) return "is empty";
  if (version.length > MAX_VERSION_LENGTH) return `is longer than ${MAX_VERSION_LENGTH} characters`;
  if (!SAFE.test(version))
    return "must start with a letter or digit and hold only letters, digits and . _ + -";
  if (version.includes("..")) return "must not contain '..'";
  if (STAGING_SUFFIXES.some((s) => version.toLowerCase().endsWith(s)))
    return `must not end with ${STAGING_SUFFIXES.join(" or ")}`;
  return null;
}
