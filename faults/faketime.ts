import { existsSync } from "node:fs";

// Debian's `libfaketime` package; other distributions use the same layout under their libdir.
const CANDIDATES = [
  "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
  "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
  "/usr/lib/faketime/libfaketime.so.1",
  "/usr/lib64/faketime/libfaketime.so.1",
];

/**
 * Path of libfaketime when installed and not disabled with `FAULTS_NO_FAKETIME=1` (which forces
 * the shifted-deadline fallback, e.g. to test it).
 */
export function faketimeLibrary(): string | undefined {
  if (process.env.FAULTS_NO_FAKETIME === "1" || process.platform !== "linux") return undefined;
  return CANDIDATES.find((p) => existsSync(p));
}
