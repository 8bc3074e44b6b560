// `npm run release`: the agent as one self-contained ESM file (every dependency bundled, no
// install step), packed as an npm-pack gzip tar — the release package of behavior.md 15.4.

import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import {
  BASE_BUNDLE_ENTRY,
  DEFAULT_RELEASE_ENTRY,
  RELEASE_PACKAGE_NAME,
} from "../services/selfupdate/releasePackage.js";
import { packTar } from "../services/selfupdate/tarWriter.js";

/**
 * CommonJS dependencies call `require` for Node built-ins; an ESM bundle has none of its own.
 * The version is not baked in: the bundle reads `../package.json` next to it (src/version.ts), so
 * one bundle serves any package version.
 */
const REQUIRE_SHIM = [
  'import { createRequire as __kanadeCreateRequire } from "node:module";',
  "const require = __kanadeCreateRequire(import.meta.url);",
];

/** One ESM file holding `entry` and everything it imports, dependencies included. */
async function bundle(root: string, entry: string, banner: string[]): Promise<Buffer> {
  const result = await build({
    absWorkingDir: root,
    entryPoints: [join(root, entry)],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    write: false,
    outfile: "agent.mjs",
    banner: { js: banner.join("\n") },
    legalComments: "none",
    logLevel: "error",
  });
  const out = result.outputFiles.find((f) => f.path.endsWith(".mjs"));
  if (!out) throw new Error(`esbuild produced no bundle of ${entry}`);
  return Buffer.from(asciiOnly(out.text), "latin1");
}

/**
 * esbuild escapes non-ASCII characters in code but keeps them in the comments it carries over
 * (a "—" or "’" in a dependency's comment). One such character makes V8 hold the whole source
 * as a two-byte string: the 3.6 MB bundle took 7.3 MB of heap, for the life of the process.
 * Escaped, the comments still read and the code is the same: esbuild leaves non-ASCII nowhere
 * else (in a string, a template or a regex `\uXXXX` would mean the same character anyway).
 */
export function asciiOnly(source: string): string {
  return source.replace(/[\u0080-\uffff]/g, (c) =>
    // U+2028/U+2029 end a line (and so a // comment): kept as one.
    c === "\u2028" || c === "\u2029" ? "\n" : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** Bundles the daemon entry (`src/main.ts`) of the checkout at `root` into one ESM file. */
export function bundleAgent(root: string): Promise<Buffer> {
  return bundle(root, join("src", "main.ts"), ["#!/usr/bin/env node", ...REQUIRE_SHIM]);
}

/**
 * The base install as one file: the launcher (`src/launcher/main.ts`) with the daemon it imports.
 * Run from `dist/`'s ~400 modules the idle agent held ~4 MiB more (each module's record, source
 * and top-level code; whole packages where the daemon uses a part, such as zod's ~60 locales).
 */
export async function writeBaseBundle(root: string): Promise<string> {
  const file = join(root, BASE_BUNDLE_ENTRY);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, await bundle(root, join("src", "launcher", "main.ts"), REQUIRE_SHIM));
  return file;
}

/** `package/package.json` of a release: what the launcher and the self-updater check. */
export function releaseManifest(
  version: string,
  base: { description?: string; license?: string; engines?: unknown },
) {
  return {
    name: RELEASE_PACKAGE_NAME,
    version,
    description: base.description ?? "kanade endpoint agent (self-contained release)",
    license: base.license ?? "MIT",
    type: "module",
    main: DEFAULT_RELEASE_ENTRY,
    bin: { [RELEASE_PACKAGE_NAME]: DEFAULT_RELEASE_ENTRY },
    engines: base.engines ?? { node: ">=20.19" },
  };
}

/** A release package (gzip tar, npm-pack layout) holding `bundle` as version `version`. */
export function packRelease(
  bundle: Uint8Array,
  version: string,
  base: Parameters<typeof releaseManifest>[1] = {},
): Buffer {
  const manifest = `${JSON.stringify(releaseManifest(version, base), null, 2)}\n`;
  const tar = packTar([
    { path: "package/package.json", data: Buffer.from(manifest) },
    { path: `package/${DEFAULT_RELEASE_ENTRY}`, data: bundle, mode: 0o755 },
  ]);
  return gzipSync(tar, { level: 9 });
}

export interface BuiltRelease {
  file: string;
  version: string;
  bytes: number;
  /** Object-store form, as `kanade agent publish` will show it. */
  sha256: string;
}

/** Bundles and packs into `<outDir>/kanade-agent-<version>.tgz`. */
export async function buildRelease(o: {
  root: string;
  outDir: string;
  version?: string;
}): Promise<BuiltRelease> {
  const pkg = JSON.parse(await readFile(join(o.root, "package.json"), "utf8")) as {
    version: string;
    description?: string;
    license?: string;
    engines?: unknown;
  };
  const version = o.version ?? pkg.version;
  const tgz = packRelease(await bundleAgent(o.root), version, pkg);
  await mkdir(o.outDir, { recursive: true });
  const file = join(o.outDir, `${RELEASE_PACKAGE_NAME}-${version}.tgz`);
  await writeFile(file, tgz);
  return {
    file,
    version,
    bytes: tgz.length,
    sha256: `SHA-256=${createHash("sha256").update(tgz).digest("base64url")}=`,
  };
}
