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

async function syncDir(dir: string): Promise<void> {
  // Directory fsync makes the rename durable on POSIX; Windows cannot open folders this way.
  if (process.platform === "win32") return;
  const fh = await open(dir, "r").catch(() => undefined);
  if (!fh) return;
  await fh.sync().catch(() => {});
  await fh.close().catch(() => {});
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
