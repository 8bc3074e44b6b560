// Reading the version out of an npm-pack tarball, as `kanade agent publish` does.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { isGzip, readPackageManifest } from "../../../src/cli/releasePackage.js";
import { tempDir } from "../../helpers/tmp.js";

/** Packs `files` (path → content) under `dir` with the system tar; `format` as tar spells it. */
function tgz(files: Record<string, string>, format = "gnu"): string {
  const dir = tempDir("kanade-tgz-");
  const root = join(dir, "root");
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  const out = join(dir, "out.tgz");
  execFileSync("tar", [`--format=${format}`, "-czf", out, "-C", root, ...Object.keys(files)]);
  return out;
}

describe("readPackageManifest", () => {
  it("finds package/package.json wherever it is in the archive", async () => {
    const big = "y".repeat(100_000);
    const file = tgz({
      "package/dist/main.js": big,
      "package/package.json": JSON.stringify({ name: "kanade-agent", version: "1.2.3" }),
    });
    expect(await isGzip(file)).toBe(true);
    expect(await readPackageManifest(file)).toEqual({ name: "kanade-agent", version: "1.2.3" });
  });

  it("reads pax archives, whose long names live in extended headers", async () => {
    const long = `package/${"d".repeat(120)}/x.js`;
    const file = tgz(
      { [long]: "x", "package/package.json": '{"name":"kanade-agent","version":"2.0.0-rc.1"}' },
      "pax",
    );
    expect(await readPackageManifest(file)).toMatchObject({ version: "2.0.0-rc.1" });
  });

  it("returns null for a tarball without package/package.json", async () => {
    const file = tgz({ "other/package.json": '{"version":"1.0.0"}' });
    expect(await readPackageManifest(file)).toBeNull();
  });

  it("rejects gzip data that is not a tar archive, and tells a raw binary from a gzip", async () => {
    const dir = tempDir("kanade-tgz-");
    const notTar = join(dir, "x.gz");
    writeFileSync(
      notTar,
      gzipSync(Buffer.from("hello, this is not a tar archive at all".repeat(20))),
    );
    await expect(readPackageManifest(notTar)).rejects.toThrow(/tar/);
    const raw = join(dir, "agent.exe");
    writeFileSync(raw, Buffer.from("MZ\x90\x00 raw executable"));
    expect(await isGzip(raw)).toBe(false);
  });
});
