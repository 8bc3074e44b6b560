import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

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

/** The live children of `parent` whose command line contains `pattern`, from /proc. */
export function childrenMatching(parent: number, pattern: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid !== parent || !isAlive(Number(entry))) continue;
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(pattern))
        found.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

/** A live child of `parent` whose command line contains `pattern`. */
export const childMatching = (parent: number, pattern: string): number | undefined =>
  childrenMatching(parent, pattern)[0];

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
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}
