// Shared pieces of the self-update tests: real release packages built from this checkout, a
// hostile object store entry, and release folders installed as the self-updater would.

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { jetstreamManager } from "@nats-io/jetstream";
import { headers, type NatsConnection } from "@nats-io/nats-core";
import { Objm } from "@nats-io/obj";
import { bundleAgent, packRelease } from "../../../src/release/build.js";
import { OBJ_AGENT_RELEASES } from "../../../src/services/nats/subjects.js";
import { formatSha256Digest } from "../../../src/services/selfupdate/digest.js";
import {
  type StagingLayout,
  stagingLayout,
} from "../../../src/services/selfupdate/stagingLayout.js";
import { packTar } from "../../../src/services/selfupdate/tarWriter.js";
import { unpackRelease } from "../../../src/services/selfupdate/unpack.js";
import { REPO_ROOT } from "../../helpers/agentProcess.js";
import { sleep } from "../../helpers/waitFor.js";

let bundle: Promise<Buffer> | undefined;

/** The real agent bundled from this checkout; built once per test file (about 2 s). */
export function agentBundle(): Promise<Buffer> {
  bundle ??= bundleAgent(REPO_ROOT);
  return bundle;
}

/** A release package of the real agent, as `npm run release -- --version <v>` makes it. */
export async function agentRelease(version: string): Promise<Buffer> {
  return packRelease(await agentBundle(), version);
}

/** A release package whose entry is `code` (a crashing or scripted fake agent). */
export function fakeRelease(version: string, code: string): Buffer {
  const manifest = { name: "kanade-agent", version, type: "module", main: "dist/agent.mjs" };
  return gzipSync(
    packTar([
      { path: "package/package.json", data: Buffer.from(JSON.stringify(manifest)) },
      { path: "package/dist/agent.mjs", data: Buffer.from(code), mode: 0o755 },
    ]),
  );
}

/** Unpacks `tgz` into `<data>/staging/releases/<version>/`, as a finished download would. */
export async function installRelease(dataDir: string, version: string, tgz: Buffer) {
  const staging = stagingLayout(join(dataDir, "staging"));
  mkdirSync(staging.downloads, { recursive: true });
  const archive = join(staging.downloads, `${version}.part`);
  writeFileSync(archive, tgz);
  return unpackRelease({ staging, archive, version });
}

export function stagingOf(dataDir: string): StagingLayout {
  return stagingLayout(join(dataDir, "staging"));
}

export async function publishRelease(nc: NatsConnection, version: string, tgz: Buffer) {
  const os = await new Objm(nc).open(OBJ_AGENT_RELEASES);
  return os.putBlob({ name: version }, tgz);
}

/**
 * Rewrites the object's metadata with the digest of other bytes: what a corrupted or tampered
 * upload looks like to an agent.
 */
export async function tamperDigest(nc: NatsConnection, version: string): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const name = Buffer.from(version).toString("base64").replace(/\+/g, "-").replace(/\//g, "_");
  const subject = `$O.${OBJ_AGENT_RELEASES}.M.${name}`;
  const m = await jsm.streams.getMessage(`OBJ_${OBJ_AGENT_RELEASES}`, { last_by_subj: subject });
  if (m === null) throw new Error(`no metadata for ${OBJ_AGENT_RELEASES}/${version}`);
  const info = m.json<Record<string, unknown>>();
  info.digest = formatSha256Digest(Buffer.alloc(32, 0xab));
  const h = headers();
  h.set("Nats-Rollup", "sub");
  await nc.request(subject, JSON.stringify(info), { headers: h, timeout: 5_000 });
}

/** Builds dist/ (with the launcher) when it is missing; several workers take turns. */
export async function ensureLauncherBuilt(): Promise<void> {
  const launcher = join(REPO_ROOT, "dist", "launcher", "main.js");
  if (existsSync(launcher)) return;
  mkdirSync(join(REPO_ROOT, ".tmp"), { recursive: true });
  const lock = join(REPO_ROOT, ".tmp", "dist-build.lock");
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`timed out waiting for build lock ${lock}`);
      await sleep(200);
    }
  }
  try {
    if (existsSync(launcher)) return;
    try {
      execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: REPO_ROOT, stdio: "pipe" });
    } catch (err) {
      if (!existsSync(launcher)) throw new Error(`building the agent failed: ${String(err)}`);
    }
  } finally {
    rmdirSync(lock);
  }
}
