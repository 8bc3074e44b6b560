import { describe, expect, it } from "vitest";
import {
  buildInvocation,
  CMD_ONE_LINE_LIMIT,
  cmdOneLine,
  isShellSupported,
  powershellLauncher,
  UnsupportedShellError,
} from "../../../src/services/exec/invocation.js";

const BOM = [0xef, 0xbb, 0xbf];
const winDir = "C:\\ProgramData\\Kanade\\scripts\\r-1";
const posixDir = "/var/lib/kanade/scripts/r-1";

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8");
const staged = (inv: { staged: { name: string; content: Uint8Array }[] }, name: string) => {
  const f = inv.staged.find((s) => s.name === name);
  if (!f) throw new Error(`${name} not staged`);
  return f.content;
};

describe("buildInvocation on Windows (behavior.md 7.3)", () => {
  it("powershell runs the staged launcher with powershell.exe and Bypass", () => {
    const inv = buildInvocation({
      shell: "powershell",
      script: "Get-Date",
      platform: "win32",
      scriptDir: winDir,
    });
    expect(inv.file).toBe("powershell.exe");
    expect(inv.args).toEqual([
      "-NoProfile",
      "-NonInteractive",
      "-ExecutionPolicy",
      "Bypass",
      "-File",
      `${winDir}\\launcher.ps1`,
    ]);
    expect(inv.staged.map((s) => s.name).sort()).toEqual(["launcher.ps1", "script.ps1"]);
    expect(inv.windowsVerbatimArguments).toBeFalsy();
  });

  it("pwsh uses pwsh.exe with the same arguments", () => {
    const inv = buildInvocation({
      shell: "pwsh",
      script: "1",
      platform: "win32",
      scriptDir: winDir,
    });
    expect(inv.file).toBe("pwsh.exe");
    expect(inv.args).toEqual([
      "-NoProfile",
      "-NonInteractive",
      "-ExecutionPolicy",
      "Bypass",
      "-File",
      `${winDir}\\launcher.ps1`,
    ]);
  });

  it('cmd passes a one-line script verbatim as /D /S /C "<script>"', () => {
    const script = 'for %i in (a b) do @echo %i & echo "quoted"';
    const inv = buildInvocation({ shell: "cmd", script, platform: "win32", scriptDir: winDir });
    expect(inv.file).toBe("cmd.exe");
    expect(inv.args).toEqual(["/D", "/S", "/C", `"${script}"`]);
    expect(inv.windowsVerbatimArguments).toBe(true);
    expect(inv.staged).toEqual([]);
  });

  it("cmd stages a multi-line script as script.cmd and runs it with doubled quotes", () => {
    const inv = buildInvocation({
      shell: "cmd",
      script: "@echo off\nfor %%i in (a b) do echo %%i\n",
      platform: "win32",
      scriptDir: winDir,
    });
    expect(inv.file).toBe("cmd.exe");
    expect(inv.args).toEqual(["/D", "/S", "/C", `""${winDir}\\script.cmd""`]);
    expect(inv.windowsVerbatimArguments).toBe(true);
    expect(text(staged(inv, "script.cmd"))).toBe("@echo off\r\nfor %%i in (a b) do echo %%i\r\n");
    // A BOM would be read as part of the first command by cmd.exe.
    expect([...staged(inv, "script.cmd").subarray(0, 3)]).not.toEqual(BOM);
  });

  it("cmd's 8 000-character rule: 8 000 verbatim, 8 001 staged", () => {
    const at = "x".repeat(CMD_ONE_LINE_LIMIT);
    const over = "x".repeat(CMD_ONE_LINE_LIMIT + 1);
    const atInv = buildInvocation({
      shell: "cmd",
      script: at,
      platform: "win32",
      scriptDir: winDir,
    });
    const overInv = buildInvocation({
      shell: "cmd",
      script: over,
      platform: "win32",
      scriptDir: winDir,
    });
    expect(CMD_ONE_LINE_LIMIT).toBe(8000);
    expect(atInv.args[3]).toBe(`"${at}"`);
    expect(atInv.staged).toEqual([]);
    expect(overInv.args[3]).toBe(`""${winDir}\\script.cmd""`);
    expect(text(staged(overInv, "script.cmd"))).toBe(over);
  });

  it("a trailing line break keeps a cmd script one line", () => {
    expect(cmdOneLine("dir C:\\\r\n")).toBe("dir C:\\");
    expect(cmdOneLine("dir\necho x")).toBeUndefined();
    expect(cmdOneLine("dir\r\necho x\r\n")).toBeUndefined();
  });

  it("sh is `sh -c <script>` found on PATH", () => {
    const inv = buildInvocation({
      shell: "sh",
      script: "echo hi",
      platform: "win32",
      scriptDir: winDir,
    });
    expect(inv).toEqual({ file: "sh", args: ["-c", "echo hi"], staged: [] });
  });
});

describe("buildInvocation on Linux and macOS (behavior.md 7.3)", () => {
  for (const platform of ["linux", "darwin"] as const) {
    it(`powershell and pwsh both run pwsh with the launcher (${platform})`, () => {
      for (const shell of ["powershell", "pwsh"] as const) {
        const inv = buildInvocation({ shell, script: "Get-Date", platform, scriptDir: posixDir });
        expect(inv.file).toBe("pwsh");
        expect(inv.args).toEqual([
          "-NoProfile",
          "-NonInteractive",
          "-File",
          `${posixDir}/launcher.ps1`,
        ]);
      }
    });

    it(`sh is /bin/sh -c with the script as the single argument (${platform})`, () => {
      const script = "echo 'a b' \"$HOME\"\nexit 3";
      const inv = buildInvocation({ shell: "sh", script, platform, scriptDir: posixDir });
      expect(inv).toEqual({ file: "/bin/sh", args: ["-c", script], staged: [] });
    });

    it(`cmd is unsupported (${platform})`, () => {
      expect(isShellSupported("cmd", platform)).toBe(false);
      expect(() =>
        buildInvocation({ shell: "cmd", script: "dir", platform, scriptDir: posixDir }),
      ).toThrow(UnsupportedShellError);
      expect(() =>
        buildInvocation({ shell: "cmd", script: "dir", platform, scriptDir: posixDir }),
      ).toThrow(`shell "cmd" is not available on ${platform}`);
    });
  }

  it("every other shell is supported everywhere, cmd on Windows", () => {
    expect(isShellSupported("cmd", "win32")).toBe(true);
    expect(isShellSupported("sh", "linux")).toBe(true);
    expect(isShellSupported("pwsh", "darwin")).toBe(true);
  });
});

describe("PowerShell staging (behavior.md 7.4)", () => {
  it("script.ps1 holds the body after a UTF-8 BOM", () => {
    const body = "Write-Output 'こんにちは'\r\nexit 3";
    const inv = buildInvocation({
      shell: "pwsh",
      script: body,
      platform: "win32",
      scriptDir: winDir,
    });
    const bytes = staged(inv, "script.ps1");
    expect([...bytes.subarray(0, 3)]).toEqual(BOM);
    expect(text(bytes.subarray(3))).toBe(body);
  });

  it("launcher.ps1 is the exact prelude + call + exit, with a BOM (Windows)", () => {
    const inv = buildInvocation({
      shell: "powershell",
      script: "x",
      platform: "win32",
      scriptDir: winDir,
    });
    const bytes = staged(inv, "launcher.ps1");
    expect([...bytes.subarray(0, 3)]).toEqual(BOM);
    expect(text(bytes.subarray(3))).toBe(
      [
        "try { [Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false } catch { }",
        "$OutputEncoding = New-Object System.Text.UTF8Encoding $false",
        "$global:LASTEXITCODE = 0",
        `& '${winDir}\\script.ps1'`,
        "exit $LASTEXITCODE",
        "",
      ].join("\r\n"),
    );
  });

  it("launcher.ps1 on POSIX points at the POSIX path", () => {
    const inv = buildInvocation({
      shell: "pwsh",
      script: "x",
      platform: "linux",
      scriptDir: posixDir,
    });
    const launcher = text(staged(inv, "launcher.ps1").subarray(3));
    expect(launcher.split("\n")).toContain(`& '${posixDir}/script.ps1'`);
    expect(launcher.endsWith("exit $LASTEXITCODE\n")).toBe(true);
  });

  it("single quotes in the script path are doubled", () => {
    const launcher = powershellLauncher("C:\\Users\\O'Brien\\s.ps1", "win32");
    expect(launcher).toContain("& 'C:\\Users\\O''Brien\\s.ps1'\r\n");
    expect(powershellLauncher("/tmp/a\u2019b/s.ps1", "linux")).toContain(
      "& '/tmp/a\u2019\u2019b/s.ps1'\n",
    );
  });
});
