import { describe, expect, it } from "vitest";
import { discoverConfigPath } from "../../../src/services/config/index.js";
import { writeConfig } from "./configFiles.js";

const existing =
  (...paths: string[]) =>
  (p: string): boolean =>
    paths.includes(p);

const LINUX_DEFAULT = "/etc/kanade/agent.toml";

describe("discoverConfigPath (behavior.md 1.3)", () => {
  it("uses --config first, even when the variable and the default file exist", () => {
    const r = discoverConfigPath({
      flag: "/opt/a.toml",
      env: { KANADE_AGENT_CONFIG: "/opt/b.toml" },
      platform: "linux",
      exists: existing("/opt/a.toml", "/opt/b.toml", LINUX_DEFAULT),
    });
    expect(r).toEqual({ ok: true, path: "/opt/a.toml", source: "flag" });
  });

  it("uses $KANADE_AGENT_CONFIG when there is no flag", () => {
    const r = discoverConfigPath({
      env: { KANADE_AGENT_CONFIG: "/opt/b.toml" },
      platform: "linux",
      exists: existing("/opt/b.toml", LINUX_DEFAULT),
    });
    expect(r).toEqual({ ok: true, path: "/opt/b.toml", source: "env" });
  });

  it("ignores an empty $KANADE_AGENT_CONFIG and falls back to the default file", () => {
    const r = discoverConfigPath({
      env: { KANADE_AGENT_CONFIG: "" },
      platform: "darwin",
      exists: existing(LINUX_DEFAULT),
    });
    expect(r).toEqual({ ok: true, path: LINUX_DEFAULT, source: "default" });
  });

  it("uses %ProgramData%\\Kanade\\config\\agent.toml on Windows", () => {
    const expected = "D:\\PD\\Kanade\\config\\agent.toml";
    expect(
      discoverConfigPath({
        env: { ProgramData: "D:\\PD" },
        platform: "win32",
        exists: existing(expected),
      }),
    ).toEqual({ ok: true, path: expected, source: "default" });
    const fallback = "C:\\ProgramData\\Kanade\\config\\agent.toml";
    expect(discoverConfigPath({ env: {}, platform: "win32", exists: existing(fallback) })).toEqual({
      ok: true,
      path: fallback,
      source: "default",
    });
  });

  it("names a --config path that does not exist instead of falling through", () => {
    const r = discoverConfigPath({
      flag: "/nope/agent.toml",
      env: { KANADE_AGENT_CONFIG: "/opt/b.toml" },
      platform: "linux",
      exists: existing("/opt/b.toml", LINUX_DEFAULT),
    });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/\/nope\/agent\.toml.*--config/);
  });

  it("names a $KANADE_AGENT_CONFIG path that does not exist", () => {
    const r = discoverConfigPath({
      env: { KANADE_AGENT_CONFIG: "/nope/b.toml" },
      platform: "linux",
      exists: existing(LINUX_DEFAULT),
    });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/\/nope\/b\.toml.*\$KANADE_AGENT_CONFIG/);
  });

  it("lists all three options when nothing is found", () => {
    const linux = discoverConfigPath({ env: {}, platform: "linux", exists: () => false });
    expect(linux.ok).toBe(false);
    if (!linux.ok) {
      expect(linux.error).toContain("--config <file>");
      expect(linux.error).toContain("$KANADE_AGENT_CONFIG");
      expect(linux.error).toContain(LINUX_DEFAULT);
    }
    const win = discoverConfigPath({ env: {}, platform: "win32", exists: () => false });
    if (!win.ok) expect(win.error).toContain("C:\\ProgramData\\Kanade\\config\\agent.toml");
    else expect.fail("expected an error on Windows too");
  });

  it("checks the real file system by default", () => {
    const file = writeConfig("");
    expect(discoverConfigPath({ flag: file, env: {} })).toEqual({
      ok: true,
      path: file,
      source: "flag",
    });
    expect(discoverConfigPath({ flag: `${file}.missing`, env: {} }).ok).toBe(false);
  });
});
