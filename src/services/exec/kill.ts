import fs from "node:fs";

/** `taskkill /PID <pid> /T /F`: ends the whole tree at once, Windows has no grace (behavior.md 7.12). */
export function taskkillInvocation(pid: number): { file: string; args: string[] } {
  return { file: "taskkill", args: ["/PID", String(pid), "/T", "/F"] };
}

/**
 * Sends `signal` to the process group `pgid` (POSIX). False when the group no longer exists;
 * other failures (EPERM) are thrown with the group in the message.
 */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw new Error(`cannot signal process group ${pgid} with ${signal}: ${String(err)}`, {
      cause: err,
    });
  }
}

/**
 * Whether any process of group `pgid` is still alive. Zombies do not count: they are dead, and
 * an init that reaps late (containers, or none at all) would otherwise hold every kill for its
 * whole grace. Linux can tell them apart through /proc; elsewhere any member counts.
 */
export function groupHasLiveMembers(pgid: number, platform: NodeJS.Platform): boolean {
  let exists: boolean;
  try {
    exists = signalGroup(pgid, 0);
  } catch {
    // EPERM: the group exists but belongs to someone else.
    exists = true;
  }
  if (!exists || platform !== "linux") return exists;
  try {
    return liveGroupMembersLinux(pgid).length > 0;
  } catch {
    return true;
  }
}

/** Pids of the non-zombie processes of group `pgid`, from /proc (Linux). */
export function liveGroupMembersLinux(pgid: number): number[] {
  const live: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, "latin1");
    } catch {
      continue; // exited while we looked
    }
    // "pid (comm) state ppid pgrp …"; comm may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[2]) === pgid && fields[0] !== "Z" && fields[0] !== "X") {
      live.push(Number(entry));
    }
  }
  return live;
}
