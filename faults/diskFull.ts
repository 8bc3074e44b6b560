// "Outbox directory full" without filling the real disk. Preferred: mount a 64 KiB tmpfs on
// `<data_dir>/outbox` and fill it, so writes fail with ENOSPC exactly as on a full disk. Mounting
// needs root (or CAP_SYS_ADMIN); without it the fallback puts a regular file where the folder
// was, so every write below `outbox/` fails with ENOTDIR: a different errno, the same promise
// (the agent cannot store a result and must neither lose nor duplicate it).

import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";

export type DiskFillMode = "tmpfs" | "file-in-place";

export interface DiskFill {
  readonly mode: DiskFillMode;
  readonly dir: string;
  /** Frees the space (tmpfs: deletes the filler; fallback: puts the folder back). */
  release(): void;
  /** Undoes everything (tmpfs: unmounts, moving what the agent wrote there back to disk). */
  dispose(): void;
}

const FILLER = ".faults-filler";

/** Makes `dir` (an outbox folder) full. `forceMode` is for tests of the fallback. */
export function fillDirectory(dir: string, forceMode?: DiskFillMode): DiskFill {
  mkdirSync(dir, { recursive: true });
  if (forceMode !== "file-in-place" && tryMountTmpfs(dir)) return tmpfsFill(dir);
  if (forceMode === "tmpfs") throw new Error(`cannot mount a tmpfs on ${dir}`);
  return fileInPlaceFill(dir);
}

function tryMountTmpfs(dir: string): boolean {
  if (process.platform !== "linux") return false;
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", dir], {
      stdio: "pipe",
    });
    return true;
  } catch {
    return false;
  }
}

function tmpfsFill(dir: string): DiskFill {
  // Fill page by page until the filesystem refuses: tmpfs counts whole pages.
  const page = Buffer.alloc(4096, 0x78);
  for (let i = 0; i < 1_000; i++) {
    try {
      writeFileSync(join(dir, `${FILLER}.${i}`), page);
    } catch {
      break;
    }
  }
  let mounted = true;
  let released = false;
  return {
    mode: "tmpfs",
    dir,
    release() {
      if (released) return;
      released = true;
      for (const f of readdirSync(dir)) if (f.startsWith(FILLER)) rmSync(join(dir, f));
    },
    dispose() {
      if (!mounted) return;
      this.release();
      mounted = false;
      // Whatever the agent left in the tmpfs goes back to the real folder under it.
      const saved = `${dir}.faults-saved`;
      mkdirSync(saved, { recursive: true });
      for (const f of readdirSync(dir)) renameOrCopy(join(dir, f), join(saved, f));
      try {
        execFileSync("umount", [dir], { stdio: "pipe" });
      } catch {
        execFileSync("umount", ["-l", dir], { stdio: "pipe" });
      }
      for (const f of readdirSync(saved)) renameSync(join(saved, f), join(dir, f));
      rmSync(saved, { recursive: true, force: true });
    },
  };
}

function renameOrCopy(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch {
    // Across filesystems (tmpfs → disk) rename fails: copy through cp to keep folders.
    execFileSync("cp", ["-a", from, to], { stdio: "pipe" });
    rmSync(from, { recursive: true, force: true });
  }
}

function fileInPlaceFill(dir: string): DiskFill {
  const held = `${dir}.faults-held`;
  renameSync(dir, held);
  writeFileSync(dir, "outbox replaced by a file: every write below it fails with ENOTDIR\n");
  let released = false;
  return {
    mode: "file-in-place",
    dir,
    release() {
      if (released) return;
      released = true;
      unlinkSync(dir);
      // The agent may have re-created the folder meanwhile (it should not: the path is a file).
      if (existsSync(dir)) {
        for (const f of readdirSync(dir)) renameSync(join(dir, f), join(held, f));
        rmSync(dir, { recursive: true, force: true });
      }
      renameSync(held, dir);
    },
    dispose() {
      this.release();
    },
  };
}
