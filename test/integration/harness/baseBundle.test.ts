import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { BASE_BUNDLE_ENTRY } from "../../../src/services/selfupdate/releasePackage.js";
import { ensureAgentBuilt, REPO_ROOT } from "../../helpers/agentProcess.js";
import { tempDir } from "../../helpers/tmp.js";

// `bin/kanade-agent.js` runs one bundle of the launcher and the daemon (src/release/build.ts).
describe("the base install's bundle (dist/kanade-agent.mjs)", () => {
  beforeAll(() => ensureAgentBuilt(), 180_000);

  it("runs the launcher and the daemon with no node_modules and no other dist/ file beside it", () => {
    const dir = tempDir("kanade-base-bundle-");
    mkdirSync(join(dir, "bin"));
    mkdirSync(join(dir, "dist"));
    copyFileSync(join(REPO_ROOT, "bin", "kanade-agent.js"), join(dir, "bin", "kanade-agent.js"));
    copyFileSync(join(REPO_ROOT, BASE_BUNDLE_ENTRY), join(dir, BASE_BUNDLE_ENTRY));
    copyFileSync(join(REPO_ROOT, "package.json"), join(dir, "package.json"));
    const run = (arg: string) =>
      execFileSync(process.execPath, [join(dir, "bin", "kanade-agent.js"), arg], {
        cwd: dir,
        encoding: "utf8",
        timeout: 20_000,
      });
    // The launcher answers --version; --help comes from the daemon's own argument parser.
    const { version } = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8"));
    expect(run("--version").trim()).toBe(version);
    expect(run("--help")).toMatch(/^Usage: kanade-agent \[options\]/);
  });

  it("is pure ASCII, so that V8 keeps its source as a one-byte string", () => {
    const bytes = readFileSync(join(REPO_ROOT, BASE_BUNDLE_ENTRY));
    expect(bytes.findIndex((b) => b > 0x7f)).toBe(-1);
  });
});
