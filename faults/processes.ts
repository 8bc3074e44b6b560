import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/**
 * Pids of live processes whose command line contains `pattern` (pgrep -f), this process
 * excluded. Scenario scripts carry a per-run marker, so this finds exactly their children.
 */
export function pidsMatching(pattern: string): number[] {
  let out: string;
  try {
    out = execFileSync("pgrep", ["-f", pattern], { encoding: "utf8" });
  } catch {
    // pgrep exits 1 when nothing matches.
    return [];
  }
  return out
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map(Number)
    .filter((pid) => pid !== process.pid && isAlive(pid));
}

/** SIGKILLs, by pid, what `pidsMatching(pattern)` finds; returns how many it found. */
export function killMatching(pattern: string): number {
  const pids = pidsMatching(pattern);
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Gone meanwhile.
    }
  }
  return pids.length;
}

/** Alive and not a zombie (a zombie already ended; only its parent has not reaped it). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}
