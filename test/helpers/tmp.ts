import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// Leftovers of a test run: temporary folders and child processes that a failing or interrupted test
// did not clean up. One `exit` hook per worker process removes them, so a crashed test never leaves
// a nats-server or an agent running behind it.
const tempDirs = new Set<string>();
const children = new Set<ChildProcess>();
let hooked = false;

function cleanUp(): void {
  for (const child of children) {
    // A child that was SIGSTOPped still dies on SIGKILL.
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
  children.clear();
  for (const dir of tempDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // A just-killed child may still be writing there; the OS temp cleaner gets the rest.
    }
  }
  tempDirs.clear();
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", cleanUp);
  // vitest ends a forks-pool worker with SIGTERM, which skips `exit` hooks unless handled.
  for (const [signal, n] of [
    ["SIGTERM", 15],
    ["SIGINT", 2],
    ["SIGHUP", 1],
  ] as const) {
    process.once(signal, () => {
      cleanUp();
      process.exit(128 + n);
    });
  }
}

/** Creates a fresh folder under the OS temp dir, removed when the worker process exits. */
export function tempDir(prefix = "kanade-test-"): string {
  hookExit();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

/** Removes a folder made by `tempDir` now rather than at exit. */
export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** Registers a child process to be SIGKILLed at worker exit if it is still running then. */
export function killAtExit(child: ChildProcess): void {
  hookExit();
  children.add(child);
  child.once("exit", () => children.delete(child));
}
