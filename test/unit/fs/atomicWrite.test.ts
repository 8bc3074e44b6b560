import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { atomicWrite, syncDir } from "../../../src/services/fs/atomicWrite.js";
import { fileHandlePrototype } from "../../helpers/fileHandles.js";
import { tempDir } from "../../helpers/tmp.js";

afterEach(() => {
  vi.restoreAllMocks();
});

describe("atomicWrite", () => {
  it("writes whole files, leaves no temporary file, and shares folder fsyncs in a burst", async () => {
    const dir = tempDir("atomic-");
    const proto = await fileHandlePrototype();
    const sync = vi.spyOn(proto, "sync");
    const n = 50;
    await Promise.all(
      Array.from({ length: n }, (_, i) => atomicWrite(join(dir, `f${i}.json`), `{"i":${i}}`)),
    );
    for (let i = 0; i < n; i++) {
      expect(JSON.parse(await readFile(join(dir, `f${i}.json`), "utf8"))).toEqual({ i });
    }
    expect((await readdir(dir)).sort()).toHaveLength(n);
    // One fsync per file, and far fewer than one per file for the folder.
    expect(sync.mock.calls.length).toBeGreaterThanOrEqual(n + 1);
    expect(sync.mock.calls.length).toBeLessThan(n + n / 2);
  });

  it("a folder sync asked while one runs waits for the next one, which starts after it", async () => {
    const dir = tempDir("atomic-");
    const proto = await fileHandlePrototype();
    const order: string[] = [];
    const real = proto.sync;
    vi.spyOn(proto, "sync").mockImplementation(async function (this: unknown) {
      order.push("sync-start");
      await real.call(this);
      order.push("sync-end");
    });
    const first = syncDir(dir).then(() => order.push("first-done"));
    await new Promise((r) => setImmediate(r)); // the first sync is under way
    const second = syncDir(dir).then(() => order.push("second-done"));
    await Promise.all([first, second]);
    expect(order).toEqual([
      "sync-start",
      "sync-end",
      "first-done",
      "sync-start",
      "sync-end",
      "second-done",
    ]);
  });

  it("resolves for a folder that cannot be opened", async () => {
    await expect(syncDir(join(tempDir("atomic-"), "missing"))).resolves.toBeUndefined();
  });
});
