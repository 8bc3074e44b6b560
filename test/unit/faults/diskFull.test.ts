import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fillDirectory } from "../../../faults/diskFull.js";
import { tempDir } from "../../helpers/tmp.js";

function canMount(): boolean {
  if (process.platform !== "linux") return false;
  const dir = tempDir("kanade-mount-probe-");
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=4k", "tmpfs", dir], { stdio: "pipe" });
    execFileSync("umount", [dir], { stdio: "pipe" });
    return true;
  } catch {
    return false;
  }
}

describe("a full outbox folder", () => {
  it("fallback: writes fail while held, the folder and its files come back on release", () => {
    const outbox = join(tempDir("kanade-fill-"), "outbox");
    mkdirSync(outbox);
    writeFileSync(join(outbox, "kept.json"), "{}");
    const fill = fillDirectory(outbox, "file-in-place");
    expect(fill.mode).toBe("file-in-place");
    expect(() => writeFileSync(join(outbox, "r.json"), "{}")).toThrow(/ENOTDIR/);
    fill.release();
    expect(statSync(outbox).isDirectory()).toBe(true);
    expect(readdirSync(outbox)).toEqual(["kept.json"]);
    writeFileSync(join(outbox, "r.json"), "{}");
    fill.dispose();
    expect(readdirSync(outbox).sort()).toEqual(["kept.json", "r.json"]);
  });

  it.runIf(canMount())(
    "tmpfs: writes fail with ENOSPC; released space takes writes; dispose keeps them",
    () => {
      const outbox = join(tempDir("kanade-fill-"), "outbox");
      const fill = fillDirectory(outbox, "tmpfs");
      try {
        expect(fill.mode).toBe("tmpfs");
        expect(() => writeFileSync(join(outbox, "r.json"), Buffer.alloc(8192))).toThrow(/ENOSPC/);
        fill.release();
        writeFileSync(join(outbox, "r.json"), "{}");
      } finally {
        fill.dispose();
      }
      expect(readdirSync(outbox)).toEqual(["r.json"]);
      expect(existsSync(`${outbox}.faults-saved`)).toBe(false);
    },
  );
});
