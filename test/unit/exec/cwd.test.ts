import { describe, expect, it } from "vitest";
import { childEnv } from "../../../src/services/exec/childEnv.js";
import { resolveCwd } from "../../../src/services/exec/cwd.js";

const win = {
  platform: "win32" as const,
  env: { ProgramData: "C:\\ProgramData", USERPROFILE: "C:\\Users\\svc" },
  homedir: "C:\\Windows\\System32\\config\\systemprofile",
};
const posix = { platform: "linux" as const, env: { HOME: "/home/agent" }, homedir: "/root" };

describe("resolveCwd (behavior.md 7.7)", () => {
  it("empty or absent means the agent's own working directory", () => {
    expect(resolveCwd(undefined, posix)).toBeUndefined();
    expect(resolveCwd(null, win)).toBeUndefined();
    expect(resolveCwd("", win)).toBeUndefined();
  });

  it("POSIX: a leading ~ becomes $HOME", () => {
    expect(resolveCwd("~", posix)).toBe("/home/agent");
    expect(resolveCwd("~/work/x", posix)).toBe("/home/agent/work/x");
    expect(resolveCwd("~/x", { ...posix, env: { HOME: "/" } })).toBe("/x");
  });

  it("POSIX: falls back to the account's home when HOME is unset", () => {
    expect(resolveCwd("~/x", { ...posix, env: {} })).toBe("/root/x");
  });

  it("POSIX: ~ elsewhere, ~name and %VAR% stay as written", () => {
    expect(resolveCwd("/srv/~/x", posix)).toBe("/srv/~/x");
    expect(resolveCwd("~bob/x", posix)).toBe("~bob/x");
    expect(resolveCwd("/tmp/%HOME%", posix)).toBe("/tmp/%HOME%");
    expect(resolveCwd("/tmp", posix)).toBe("/tmp");
  });

  it("Windows: a leading ~ becomes the profile directory", () => {
    const profile = win.homedir;
    expect(resolveCwd("~", win)).toBe(profile);
    expect(resolveCwd("~\\logs", win)).toBe(`${profile}\\logs`);
    expect(resolveCwd("~/logs", win)).toBe(`${profile}\\logs`);
    expect(resolveCwd("~\\x", { ...win, homedir: "C:\\Users\\op\\" })).toBe("C:\\Users\\op\\x");
    expect(resolveCwd("C:\\~name", win)).toBe("C:\\~name");
  });

  it("Windows: %VAR% expands case-insensitively; unknown names stay as written", () => {
    expect(resolveCwd("%PROGRAMDATA%\\Kanade", win)).toBe("C:\\ProgramData\\Kanade");
    expect(resolveCwd("%userprofile%\\a;%NOPE%\\b", win)).toBe("C:\\Users\\svc\\a;%NOPE%\\b");
    expect(resolveCwd("%NOPE%ProgramData%", win)).toBe("%NOPE%ProgramData%");
    expect(resolveCwd("100%% %ProgramData", win)).toBe("100%% %ProgramData");
    expect(resolveCwd("~\\%ProgramData%", win)).toBe(`${win.homedir}\\C:\\ProgramData`);
  });
});

describe("childEnv (behavior.md 7.8)", () => {
  it("drops the NATS token and keeps everything else", () => {
    const env = childEnv({
      PATH: "/usr/bin",
      KANADE_NATS_TOKEN: "secret",
      kanade_nats_token: "secret2",
      KANADE_DATA_DIR: "/var/lib/kanade",
      EMPTY: "",
      UNSET: undefined,
    });
    expect(env).toEqual({ PATH: "/usr/bin", KANADE_DATA_DIR: "/var/lib/kanade", EMPTY: "" });
  });
});
