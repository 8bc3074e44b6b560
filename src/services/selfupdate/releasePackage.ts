// What makes an unpacked folder a kanade-agent release (behavior.md 15.4, 15.6): the manifest of
// npm-pack layout and the entry file the launcher imports.

import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";

export const RELEASE_PACKAGE_NAME = "kanade-agent";
/** The entry when the manifest names no `main`. */
export const DEFAULT_RELEASE_ENTRY = "dist/agent.mjs";
/** The base install's bundle (launcher + daemon), which `bin/kanade-agent.js` imports. */
export const BASE_BUNDLE_ENTRY = "dist/kanade-agent.mjs";
const MAX_MANIFEST_BYTES = 1024 * 1024;

export interface ReleaseManifest {
  name: string;
  version: string;
  /** Relative path of the module the launcher imports. */
  main: string;
}

/** Why `rel` is not a safe relative path inside a package, or null. */
export function relativePathProblem(rel: string): string | null {
  if (rel.length === 0) return "is empty";
  if (rel.length > 1024) return "is longer than 1024 characters";
  if (rel.includes("\0")) return "contains a NUL character";
  if (rel.includes("\\")) return "contains a backslash";
  if (rel.startsWith("/") || /^[A-Za-z]:/.test(rel)) return "is absolute";
  const segments = rel.split("/");
  if (segments.length > 32) return "is nested too deep";
  for (const seg of segments) {
    if (seg === "..") return "contains '..'";
    if (seg === "" || seg === ".") return "contains an empty or '.' segment";
    if (seg.includes(":")) return "contains ':'";
  }
  return null;
}

/**
 * Reads and checks `package.json` of an unpacked release: name `kanade-agent`, `version` equal to
 * the expected one, and a `main` that is a file inside the folder. Returns the problem as text.
 */
export async function checkReleaseFolder(
  dir: string,
  expectedVersion: string,
): Promise<{ manifest: ReleaseManifest } | { problem: string }> {
  let json: unknown;
  try {
    const bytes = await readFile(join(dir, "package.json"));
    if (bytes.length > MAX_MANIFEST_BYTES) return { problem: "package.json is too large" };
    json = JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return {
      problem:
        code === "ENOENT"
          ? "package/package.json is missing"
          : `package.json is unreadable: ${(err as Error).message}`,
    };
  }
  if (typeof json !== "object" || json === null || Array.isArray(json))
    return { problem: "package.json is not an object" };
  const m = json as Record<string, unknown>;
  if (m.name !== RELEASE_PACKAGE_NAME)
    return { problem: `package name is ${JSON.stringify(m.name)}, not ${RELEASE_PACKAGE_NAME}` };
  if (m.version !== expectedVersion)
    return { problem: `package version is ${JSON.stringify(m.version)}, not ${expectedVersion}` };
  const main = m.main === undefined ? DEFAULT_RELEASE_ENTRY : m.main;
  if (typeof main !== "string") return { problem: "package.json main is not a string" };
  const rel = main.replace(/^\.\//, "");
  const problem = relativePathProblem(rel);
  if (problem !== null) return { problem: `package.json main ${problem}` };
  const s = await stat(join(dir, rel)).catch(() => null);
  if (!s?.isFile()) return { problem: `entry ${rel} named by package.json is missing` };
  return { manifest: { name: RELEASE_PACKAGE_NAME, version: expectedVersion, main: rel } };
}
