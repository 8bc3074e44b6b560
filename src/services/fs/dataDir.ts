import { access, constants, mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { atomicWrite, removeAtomicLeftovers } from "./atomicWrite.js";

/** The data directory layout of behavior.md 1.8. */
export interface DataDirLayout {
  root: string;
  outbox: string;
  eventsOutbox: string;
  ledger: string;
  staging: string;
  scripts: string;
  localCompletions: string;
  localSchedules: string;
}

export function dataDirLayout(root: string): DataDirLayout {
  return {
    root,
    outbox: join(root, "outbox"),
    eventsOutbox: join(root, "events-outbox"),
    ledger: join(root, "ledger"),
    staging: join(root, "staging"),
    scripts: join(root, "scripts"),
    localCompletions: join(root, "local_completions.json"),
    localSchedules: join(root, "local_schedules.json"),
  };
}

export class DataDirError extends Error {
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`data directory ${path} is not usable: ${reason}`);
  }
}

/**
 * Creates the layout (owner-only on POSIX), deletes leftovers of interrupted atomic writes,
 * empties `scripts/` (no child survives an agent restart) and proves the folder is writable.
 */
export async function prepareDataDir(root: string): Promise<DataDirLayout> {
  const l = dataDirLayout(root);
  try {
    for (const dir of [l.root, l.outbox, l.eventsOutbox, l.ledger, l.staging]) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await removeAtomicLeftovers(dir);
    }
    await rm(l.scripts, { recursive: true, force: true });
    await mkdir(l.scripts, { recursive: true, mode: 0o700 });
    await access(l.root, constants.W_OK);
    const probe = join(l.root, ".write-probe");
    await atomicWrite(probe, "ok");
    await rm(probe, { force: true });
  } catch (err) {
    throw new DataDirError(root, err instanceof Error ? err.message : String(err));
  }
  return l;
}
