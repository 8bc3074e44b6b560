import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { ReleaseRejected } from "../../../src/services/selfupdate/errors.js";
import { releaseDir, stagingLayout } from "../../../src/services/selfupdate/stagingLayout.js";
import { packTar, type TarInput } from "../../../src/services/selfupdate/tarWriter.js";
import { memberPath, unpackRelease } from "../../../src/services/selfupdate/unpack.js";
import { tempDir } from "../../helpers/tmp.js";

const VERSION = "2.0.0";
const manifest = (over: Record<string, unknown> = {}) =>
  Buffer.from(JSON.stringify({ name: "kanade-agent", version: VERSION, ...over }));
const entryFile: TarInput = {
  path: "package/dist/agent.mjs",
  data: Buffer.from("export {};\n"),
  mode: 0o755,
};
const good = (extra: TarInput[] = []): TarInput[] => [
  { path: "package/package.json", data: manifest() },
  entryFile,
  ...extra,
];

function setup(entries: TarInput[] | Buffer) {
  const dir = tempDir("kanade-unpack-");
  const staging = stagingLayout(join(dir, "staging"));
  mkdirSync(staging.downloads, { recursive: true });
  const archive = join(staging.downloads, `${VERSION}.part`);
  writeFileSync(archive, Buffer.isBuffer(entries) ? entries : gzipSync(packTar(entries)));
  return { staging, archive };
}

async function expectRefused(entries: TarInput[] | Buffer, reason: RegExp) {
  const { staging, archive } = setup(entries);
  const err = await unpackRelease({ staging, archive, version: VERSION }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ReleaseRejected);
  expect((err as ReleaseRejected).reason).toMatch(reason);
  // Nothing staged, no half-unpacked folder left behind.
  expect(readdirSync(staging.releases)).toEqual([]);
}

describe("unpacking a release package", () => {
  it("unpacks the package/ tree into releases/<version>/ and keeps the executable bit", async () => {
    const { staging, archive } = setup(
      good([{ path: "package/README.md", data: Buffer.from("hello") }]),
    );
    const r = await unpackRelease({ staging, archive, version: VERSION });
    expect(r.dir).toBe(releaseDir(staging, VERSION));
    expect(r.manifest.main).toBe("dist/agent.mjs");
    expect(readFileSync(join(r.dir, "README.md"), "utf8")).toBe("hello");
    expect(readFileSync(join(r.dir, "dist", "agent.mjs"), "utf8")).toBe("export {};\n");
    if (process.platform !== "win32")
      expect(statSync(join(r.dir, "dist", "agent.mjs")).mode & 0o111).not.toBe(0);
    expect(readdirSync(staging.releases)).toEqual([VERSION]);
  });

  it("replaces an older copy of the same version", async () => {
    const { staging, archive } = setup(good());
    mkdirSync(join(releaseDir(staging, VERSION), "stale"), { recursive: true });
    await unpackRelease({ staging, archive, version: VERSION });
    expect(existsSync(join(releaseDir(staging, VERSION), "stale"))).toBe(false);
  });

  it("reads long names (ustar prefix) and pax path records", async () => {
    const deep = `package/${"d".repeat(90)}/${"f".repeat(60)}.txt`;
    const pax = (path: string) => {
      const rec = ` path=${path}\n`;
      let len = rec.length + 2;
      if (`${len}${rec}`.length !== len) len++;
      return Buffer.from(`${len}${rec}`);
    };
    const veryLong = `package/${"x".repeat(200)}.txt`;
    const { staging, archive } = setup(
      good([
        { path: deep, data: Buffer.from("deep") },
        { path: "PaxHeader", type: "pax-header", data: pax(veryLong) },
        { path: "package/placeholder", data: Buffer.from("pax") },
      ]),
    );
    const r = await unpackRelease({ staging, archive, version: VERSION });
    expect(readFileSync(join(r.dir, deep.slice("package/".length)), "utf8")).toBe("deep");
    expect(readFileSync(join(r.dir, veryLong.slice("package/".length)), "utf8")).toBe("pax");
  });

  it("reads an archive made by the system tar", async () => {
    const src = tempDir("kanade-systar-");
    mkdirSync(join(src, "package", "dist"), { recursive: true });
    writeFileSync(join(src, "package", "package.json"), manifest());
    writeFileSync(join(src, "package", "dist", "agent.mjs"), "export {};\n");
    const out = join(src, "r.tgz");
    try {
      execFileSync("tar", ["-czf", out, "-C", src, "package"], { stdio: "pipe" });
    } catch {
      return; // no tar on this machine
    }
    const { staging, archive } = setup(readFileSync(out));
    const r = await unpackRelease({ staging, archive, version: VERSION });
    expect(r.manifest.version).toBe(VERSION);
  });

  it.each([
    ["an absolute path", "/etc/evil", /is absolute/],
    ["a '..' escape", "package/../../evil", /contains '\.\.'/],
    ["a path outside package/", "other/file", /outside package/],
    ["a backslash", "package\\..\\evil", /backslash/],
    ["a drive letter", "C:/evil", /is absolute/],
  ])("refuses %s", async (_what, path, reason) => {
    await expectRefused(good([{ path, data: Buffer.from("x") }]), reason);
  });

  it("refuses a pax path that escapes the folder", async () => {
    const rec = " path=package/../../evil\n";
    const len = rec.length + 2;
    await expectRefused(
      good([
        { path: "PaxHeader", type: "pax-header", data: Buffer.from(`${len}${rec}`) },
        { path: "package/harmless", data: Buffer.from("x") },
      ]),
      /contains '\.\.'/,
    );
  });

  it.each([
    ["symlink", { type: "symlink", linkname: "/etc/passwd" }],
    ["hardlink", { type: "hardlink", linkname: "package/package.json" }],
    ["char-device", { type: "char-device" }],
    ["block-device", { type: "block-device" }],
    ["fifo", { type: "fifo" }],
  ] as const)("refuses a %s member", async (type, fields) => {
    await expectRefused(
      good([{ path: "package/dist/link", ...fields }]),
      new RegExp(`is a ${type}`),
    );
  });

  it("refuses a package with another name or version, or without its entry", async () => {
    await expectRefused(
      [{ path: "package/package.json", data: manifest({ name: "left-pad" }) }, entryFile],
      /package name is "left-pad"/,
    );
    await expectRefused(
      [{ path: "package/package.json", data: manifest({ version: "2.0.1" }) }, entryFile],
      /package version is "2.0.1", not 2.0.0/,
    );
    await expectRefused(
      [{ path: "package/package.json", data: manifest() }],
      /entry dist\/agent.mjs named by package.json is missing/,
    );
    await expectRefused(
      [{ path: "package/package.json", data: manifest({ main: "../../outside.mjs" }) }, entryFile],
      /main contains '\.\.'/,
    );
    await expectRefused([entryFile], /package\/package.json is missing/);
  });

  it("refuses what is not a gzip tar, and a cut-short archive", async () => {
    await expectRefused(Buffer.from("#!/bin/sh\necho rust agent binary\n"), /not a valid package/);
    const whole = packTar(good());
    await expectRefused(gzipSync(whole.subarray(0, 700)), /not a valid package/);
  });

  it("refuses a header with a broken checksum", async () => {
    const tar = packTar(good());
    tar[0] = "q".charCodeAt(0);
    await expectRefused(gzipSync(tar), /checksum/);
  });

  it("stops at its limits: entries and inflated size", async () => {
    const many = Array.from({ length: 20 }, (_, i) => ({
      path: `package/f${i}`,
      data: Buffer.from("x"),
    }));
    const a = setup(good(many));
    await expect(
      unpackRelease({
        ...a,
        version: VERSION,
        limits: { maxEntries: 10, maxTotalBytes: 1 << 20 },
      }),
    ).rejects.toThrow(/more than 10 entries/);
    const b = setup(good([{ path: "package/big", data: Buffer.alloc(100_000) }]));
    await expect(
      unpackRelease({ ...b, version: VERSION, limits: { maxEntries: 10, maxTotalBytes: 50_000 } }),
    ).rejects.toThrow(/more than 50000 bytes/);
  });

  it("maps member names to folder-relative paths", () => {
    expect(memberPath("package/")).toEqual({ rel: null });
    expect(memberPath("./package/a/b")).toEqual({ rel: "a/b" });
    expect(memberPath("package/a/")).toEqual({ rel: "a" });
    expect(memberPath("package/a/./b")).toHaveProperty("problem");
    expect(memberPath("package//a")).toHaveProperty("problem");
    expect(memberPath("package/a:b")).toHaveProperty("problem");
  });
});
