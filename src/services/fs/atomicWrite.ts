import { randomBytes } from "node:crypto";
import { open, readdir, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

const TMP_MARK = ".tmp-";

/**
 * Writes `data` to `path` so that a reader (or a crash) sees either the old file or the whole
 * new one: temporary file in the same folder, fsync, rename, fsync of the folder.
 */
export async function atomicWrite(
  path: string,
  data: string | Uint8Array,
  mode = 0o600,
): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `${TMP_MARK}${basename(path)}.${randomBytes(4).toString("hex")}`);
  const fh = await open(tmp, "w", mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await syncDir(dir);
}

/** Callers waiting for the next fsync of a folder, and whether one is running. */
const dirSyncs = new Map<string, { waiting: (() => void)[]; running: boolean }>();

/**
 * Makes the renames done in `dir` so far durable. Group-committed: callers that arrive while an
 * fsync of the folder runs share the next one (a burst of results costs a few folder fsyncs,
 * not one each). Never rejects: a folder that cannot be synced has done what it could.
 */
export function syncDir(dir: string): Promise<void> {
  // Directory fsync makes the rename durable on POSIX; Windows cannot open folders this way.
  if (process.platform === "win32") return Promise.resolve();
  let state = dirSyncs.get(dir);
  if (!state) {
    state = { waiting: [], running: false };
    dirSyncs.set(dir, state);
  }
  const s = state;
  const done = new Promise<void>((resolve) => s.waiting.push(resolve));
  if (!s.running) void syncLoop(dir, s);
  return done;
}

async function syncLoop(dir: string, s: { waiting: (() => void)[]; running: boolean }) {
  s.running = true;
  while (s.waiting.length > 0) {
    const batch = s.waiting.splice(0);
    const fh = await open(dir, "r").catch(() => undefined);
    if (fh) {
      await fh.sync().catch(() => {});
      await fh.close().catch(() => {});
    }
    for (const resolve of batch) resolve();
  }
  s.running = false;
  dirSyncs.delete(dir);
}

/** Whether a file name is a leftover temporary file of `atomicWrite`. */
export const isAtomicTemp = (name: string): boolean => name.startsWith(TMP_MARK);

/** Deletes leftover temporary files of interrupted writes in `dir` (behavior.md 1.8). */
export async function removeAtomicLeftovers(dir: string): Promise<number> {
  const names = await readdir(dir).catch(() => [] as string[]);
  let removed = 0;
  for (const name of names) {
    if (!isAtomicTemp(name)) continue;
    await unlink(join(dir, name)).then(
      () => removed++,
      () => {},
    );
  }
  return removed;
}
