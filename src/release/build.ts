// `npm run release`: the agent as one self-contained ESM file (every dependency bundled, no
// install step), packed as an npm-pack gzip tar — the release package of behavior.md 15.4.

import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import {
  DEFAULT_RELEASE_ENTRY,
  RELEASE_PACKAGE_NAME,
} from "../services/selfupdate/releasePackage.js";
import { packTar } from "../services/selfupdate/tarWriter.js";

/**
 * CommonJS dependencies call `require` for Node built-ins; an ESM bundle has none of its own.
 * The version is not baked in: the bundle reads `../package.json` next to it (src/version.ts), so
 * one bundle serves any package version.
 */
const BANNER = [
  "#!/usr/bin/env node",
  'import { createRequire as __kanadeCreateRequire } from "node:module";',
  "const require = __kanadeCreateRequire(import.meta.url);",
].join("\n");

/** Bundles the daemon entry (`src/main.ts`) of the checkout at `root` into one ESM file. */
export async function bundleAgent(root: string): Promise<Buffer> {
  const result = await build({
    absWorkingDir: root,
    entryPoints: [join(root, "src", "main.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    write: false,
    outfile: "agent.mjs",
    banner: { js: BANNER },
    legalComments: "none",
    logLevel: "error",
  });
  const out = result.outputFiles.find((f) => f.path.endsWith(".mjs"));
  if (!out) throw new Error("esbuild produced no bundle");
  return Buffer.from(out.contents);
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
