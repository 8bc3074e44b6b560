// `npm run release [-- --version X] [--out DIR]`
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { releaseVersionProblem } from "../services/selfupdate/releaseVersion.js";
import { buildRelease } from "./build.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

const program = new Command("release")
  .description("bundle the agent and pack it as a release package for agent_releases")
  .option("--version <version>", "release version (default: package.json version)")
  .option("--out <dir>", "output folder", "dist/releases")
  .action(async (opts: { version?: string; out: string }) => {
    if (opts.version !== undefined) {
      const problem = releaseVersionProblem(opts.version);
      if (problem !== null) program.error(`--version ${JSON.stringify(opts.version)} ${problem}`);
    }
    const built = await buildRelease({
      root: ROOT,
      outDir: resolve(ROOT, opts.out),
      version: opts.version,
    });
    process.stdout.write(
      `${built.file}\n  version ${built.version}, ${built.bytes} bytes, ${built.sha256}\n` +
        `next: kanade agent publish ${built.file}\n`,
    );
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`release: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
