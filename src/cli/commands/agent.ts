// `kanade agent publish|rollout|current`: agent releases in the `agent_releases` object store and
// the `target_version` of each agent_config scope.
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { Readable } from "node:stream";
import type { NatsConnection } from "@nats-io/nats-core";
import { type ObjectStore, Objm } from "@nats-io/obj";
import { type Command, InvalidArgumentError } from "commander";
import { classifyConfigKey } from "../../services/kv/configMirror.js";
import {
  CONFIG_KEY_GLOBAL,
  configPcKey,
  KV_AGENT_CONFIG,
  OBJ_AGENT_RELEASES,
} from "../../services/nats/subjects.js";
import { parseDuration } from "../../services/wire/index.js";
import type { CliContext, Runner } from "../context.js";
import { doing, EXIT, failed, oneLine, usageError } from "../errors.js";
import { startProgress, withProgress } from "../format/progress.js";
import { renderTable } from "../format/table.js";
import { formatBytes } from "../format/units.js";
import { openKv } from "../kv.js";
import { isGzip, readPackageManifest } from "../releasePackage.js";
import {
  decodeScopeEntry,
  editScope,
  type ScopeFlags,
  scopeFromFlags,
  scopeKey,
  scopeOptions,
} from "../scopes.js";

/** The agent refuses larger releases (behavior.md 15.4). */
export const MAX_RELEASE_BYTES = 256 * 1024 * 1024;
/** `package.json` name a release package must carry (behavior.md 15.4). */
export const AGENT_PACKAGE_NAME = "kanade-agent";

function versionArg(value: string): string {
  if (value === "" || /[\s\p{Cc}]/u.test(value) || Buffer.byteLength(value) > 200) {
    throw new InvalidArgumentError("a version is 1–200 bytes without whitespace");
  }
  return value;
}

/** Validates a humantime value but keeps the text as typed: it is stored as is. */
function durationTextArg(value: string): string {
  if (parseDuration(value) === null) {
    throw new InvalidArgumentError(`not a duration: ${JSON.stringify(value)} (e.g. 10m, 1h)`);
  }
  return value;
}

export function registerAgentReleases(agent: Command, run: Runner): void {
  agent
    .command("publish")
    .description(
      "upload an agent release to the agent_releases object store (no agent is told yet)",
    )
    .argument("<artifact>", "an npm-pack .tgz of kanade-agent (or any file, with --version)")
    .option(
      "--version <version>",
      "object name; default: the version in the .tgz's package.json",
      versionArg,
    )
    .option("--force", "replace an object already published under that version")
    .action((artifact: string, opts: { version?: string; force?: boolean }, cmd: Command) =>
      run(cmd, (ctx) => publish(ctx, artifact, opts.version, opts.force === true)),
    );

  const rollout = agent
    .command("rollout")
    .description("point one scope's target_version at a published release")
    .argument("<version>", "a version published with `kanade agent publish`", versionArg)
    .option(
      "--jitter <duration>",
      "also set target_version_jitter (spread the downloads)",
      durationTextArg,
    )
    .option("--force", "do not check that the release exists in agent_releases");
  for (const o of scopeOptions(true)) rollout.addOption(o);
  rollout.action(
    (version: string, opts: ScopeFlags & { jitter?: string; force?: boolean }, cmd: Command) =>
      run(cmd, (ctx) => rolloutTo(ctx, version, opts)),
  );

  agent
    .command("current")
    .description("target_version (and jitter) of every scope that sets one")
    .action((_opts: unknown, cmd: Command) => run(cmd, current));
}

async function openReleases(nc: NatsConnection): Promise<ObjectStore> {
  try {
    const os = await new Objm(nc).open(OBJ_AGENT_RELEASES);
    await os.status();
    return os;
  } catch (err) {
    throw failed(
      `object store ${OBJ_AGENT_RELEASES} is not available (${oneLine(err)}); run \`kanade jetstream setup\``,
      err,
    );
  }
}

async function publish(
  ctx: CliContext,
  artifact: string,
  versionFlag: string | undefined,
  force: boolean,
): Promise<number> {
  const size = await doing(`read ${artifact}`, async () => {
    const s = await stat(artifact);
    if (!s.isFile()) throw new Error("not a file");
    return s.size;
  });
  if (size > MAX_RELEASE_BYTES) {
    throw failed(
      `${artifact} is ${formatBytes(size)}; agents refuse releases over ${formatBytes(MAX_RELEASE_BYTES)}`,
    );
  }
  const manifest = (await isGzip(artifact))
    ? await doing(`read ${artifact} as an npm package`, () => readPackageManifest(artifact))
    : null;
  let version = versionFlag;
  if (manifest !== null) {
    if (manifest.name !== AGENT_PACKAGE_NAME) {
      throw failed(
        `${artifact} is the npm package ${JSON.stringify(manifest.name)}, not ${AGENT_PACKAGE_NAME}`,
      );
    }
    if (version !== undefined && manifest.version !== undefined && version !== manifest.version) {
      throw failed(
        `${artifact} holds version ${manifest.version}, not ${version}; agents refuse a release whose package.json version differs from its name`,
      );
    }
    version ??= manifest.version;
  }
  if (version === undefined) {
    throw usageError(
      `cannot read a version from ${artifact} (not an npm-pack .tgz); pass --version`,
    );
  }
  const name = version;

  const info = await ctx.withNats(async (nc) => {
    const os = await openReleases(nc);
    const existing = await doing(`look up ${OBJ_AGENT_RELEASES}/${name}`, () => os.info(name));
    if (existing !== null && !existing.deleted && !force) {
      throw failed(
        `${OBJ_AGENT_RELEASES}/${name} already exists (${formatBytes(existing.size)}); a changed release needs a new version (or --force)`,
      );
    }
    const progress = startProgress(
      ctx.io,
      `uploading ${formatBytes(size)} to ${OBJ_AGENT_RELEASES}/${name}`,
    );
    try {
      const body = Readable.toWeb(createReadStream(artifact)) as ReadableStream<Uint8Array>;
      return await doing(`upload ${OBJ_AGENT_RELEASES}/${name}`, () => os.put({ name }, body));
    } finally {
      progress.stop();
    }
  });
  if (ctx.json) {
    ctx.printJson({
      store: OBJ_AGENT_RELEASES,
      version: name,
      size: info.size,
      digest: info.digest,
    });
  } else {
    ctx.print(
      [
        `published ${OBJ_AGENT_RELEASES}/${name} (${formatBytes(info.size)}, ${info.digest})`,
        `next: kanade agent rollout ${name} --group canary --jitter 5m   (then --global)`,
      ].join("\n"),
    );
  }
  return EXIT.ok;
}

async function rolloutTo(
  ctx: CliContext,
  version: string,
  opts: ScopeFlags & { jitter?: string; force?: boolean },
): Promise<number> {
  const ref = scopeFromFlags(opts, true);
  const key = scopeKey(ref);
  const { scope } = await ctx.withNats(async (nc) => {
    if (opts.force !== true) {
      const os = await openReleases(nc);
      const found = await doing(`look up ${OBJ_AGENT_RELEASES}/${version}`, () => os.info(version));
      if (found === null || found.deleted) {
        throw failed(
          `no release ${version} in ${OBJ_AGENT_RELEASES}; run \`kanade agent publish <artifact>\` first (or --force)`,
        );
      }
    }
    const kv = await openKv(nc, KV_AGENT_CONFIG);
    return editScope(kv, key, (s) => ({
      ...s,
      targetVersion: version,
      ...(opts.jitter === undefined ? {} : { targetVersionJitter: opts.jitter }),
    }));
  });
  if (ctx.json) {
    ctx.printJson({
      key,
      target_version: scope.targetVersion ?? null,
      target_version_jitter: scope.targetVersionJitter ?? null,
    });
  } else {
    const jitter =
      scope.targetVersionJitter === undefined ? "" : `, jitter ${scope.targetVersionJitter}`;
    ctx.print(`${KV_AGENT_CONFIG}.${key}: target_version = ${version}${jitter}`);
  }
  return EXIT.ok;
}

interface CurrentRow {
  key: string;
  target_version: string | null;
  target_version_jitter: string | null;
}

async function current(ctx: CliContext): Promise<number> {
  const { rows, problems } = await ctx.withNats((nc) =>
    withProgress(ctx.io, `reading ${KV_AGENT_CONFIG}`, async () => {
      const kv = await openKv(nc, KV_AGENT_CONFIG);
      const keys: string[] = [];
      await doing(`list ${KV_AGENT_CONFIG}`, async () => {
        for await (const k of await kv.keys()) keys.push(k);
      });
      const pcPrefix = configPcKey("x").slice(0, -1);
      const scopeKeys = keys
        .filter((k) => classifyConfigKey(k, null) !== null || k.startsWith(pcPrefix))
        .sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
      const rows: CurrentRow[] = [];
      const problems: string[] = [];
      for (const key of scopeKeys) {
        const entry = await doing(`read ${KV_AGENT_CONFIG}.${key}`, () => kv.get(key));
        if (entry === null || entry.operation !== "PUT") continue;
        try {
          const { scope } = decodeScopeEntry(key, entry);
          if (scope.targetVersion === undefined && key !== CONFIG_KEY_GLOBAL) continue;
          rows.push({
            key,
            target_version: scope.targetVersion ?? null,
            target_version_jitter: scope.targetVersionJitter ?? null,
          });
        } catch (err) {
          problems.push(oneLine(err));
        }
      }
      if (!rows.some((r) => r.key === CONFIG_KEY_GLOBAL)) {
        rows.unshift({ key: CONFIG_KEY_GLOBAL, target_version: null, target_version_jitter: null });
      }
      return { rows, problems };
    }),
  );
  for (const p of problems) ctx.warn(p);
  if (ctx.json) {
    ctx.printJson({ scopes: rows });
    return EXIT.ok;
  }
  ctx.print(
    renderTable(
      [{ header: "SCOPE" }, { header: "TARGET VERSION" }, { header: "JITTER" }],
      rows.map((r) => [r.key, r.target_version ?? "(unset)", r.target_version_jitter ?? "-"]),
    ),
  );
  return EXIT.ok;
}

/** global first, then groups, then PCs: the order agents apply them in. */
function rank(key: string): number {
  if (key === CONFIG_KEY_GLOBAL) return 0;
  return classifyConfigKey(key, null)?.kind === "group" ? 1 : 2;
}
