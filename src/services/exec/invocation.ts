import path from "node:path";
import type { Shell } from "../wire/types.js";

/** A file the run writes into its script directory before spawning (behavior.md 7.4, 7.5). */
export interface StagedFile {
  name: string;
  content: Uint8Array;
}

/** What to spawn for a command: program, argv and the files to stage first. */
export interface Invocation {
  file: string;
  args: string[];
  staged: StagedFile[];
  /** Windows only: pass `args` to the command line as written (cmd's own quoting, 7.5). */
  windowsVerbatimArguments?: boolean;
}

/**
 * The shell cannot run on this platform (`cmd` off Windows, behavior.md 7.3). The caller turns it
 * into exit 122 with `rejected: <message>`.
 */
export class UnsupportedShellError extends Error {
  override readonly name = "UnsupportedShellError";
  constructor(
    readonly shell: Shell,
    readonly platform: NodeJS.Platform,
  ) {
    super(`shell "${shell}" is not available on ${platform}`);
  }
}

/** cmd's verbatim one-line limit (behavior.md 7.5), counted in UTF-16 code units like Windows. */
export const CMD_ONE_LINE_LIMIT = 8000;

export const UTF8_BOM = Uint8Array.of(0xef, 0xbb, 0xbf);

export const LAUNCHER_NAME = "launcher.ps1";
export const PS_SCRIPT_NAME = "script.ps1";
export const CMD_SCRIPT_NAME = "script.cmd";

export function isShellSupported(shell: Shell, platform: NodeJS.Platform): boolean {
  return shell !== "cmd" || platform === "win32";
}

/**
 * Program, arguments and staged files for one run (behavior.md 7.3–7.6). Pure: nothing touches
 * the disk until `startRun` stages the files into `scriptDir`.
 * @throws UnsupportedShellError for `cmd` off Windows
 */
export function buildInvocation(opts: {
  shell: Shell;
  script: string;
  platform: NodeJS.Platform;
  scriptDir: string;
}): Invocation {
  const { shell, script, platform, scriptDir } = opts;
  const windows = platform === "win32";
  const join = windows ? path.win32.join : path.posix.join;
  switch (shell) {
    case "powershell":
    case "pwsh": {
      const launcherPath = join(scriptDir, LAUNCHER_NAME);
      const scriptPath = join(scriptDir, PS_SCRIPT_NAME);
      const staged: StagedFile[] = [
        { name: LAUNCHER_NAME, content: withBom(powershellLauncher(scriptPath, platform)) },
        { name: PS_SCRIPT_NAME, content: withBom(script) },
      ];
      if (!windows) {
        return {
          file: "pwsh",
          args: ["-NoProfile", "-NonInteractive", "-File", launcherPath],
          staged,
        };
      }
      return {
        file: shell === "pwsh" ? "pwsh.exe" : "powershell.exe",
        args: [
          "-NoProfile",
          "-NonInteractive",
          "-ExecutionPolicy",
          "Bypass",
          "-File",
          launcherPath,
        ],
        staged,
      };
    }
    case "cmd": {
      if (!windows) throw new UnsupportedShellError(shell, platform);
      const line = cmdOneLine(script);
      if (line !== undefined) {
        return {
          file: "cmd.exe",
          args: ["/D", "/S", "/C", `"${line}"`],
          staged: [],
          windowsVerbatimArguments: true,
        };
      }
      const scriptPath = join(scriptDir, CMD_SCRIPT_NAME);
      return {
        file: "cmd.exe",
        args: ["/D", "/S", "/C", `""${scriptPath}""`],
        staged: [{ name: CMD_SCRIPT_NAME, content: Buffer.from(toCrlf(script), "utf8") }],
        windowsVerbatimArguments: true,
      };
    }
    case "sh":
      return { file: windows ? "sh" : "/bin/sh", args: ["-c", script], staged: [] };
  }
}

/**
 * The script as one cmd line, or undefined when it must be staged. Trailing line breaks are
 * dropped first: cmd ends the command at a line break anyway, so `dir\r\n` keeps the one-line
 * semantics (`%i`) that 0.40 gave it.
 */
export function cmdOneLine(script: string): string | undefined {
  const line = script.replace(/[\r\n]+$/, "");
  if (/[\r\n]/.test(line) || line.length > CMD_ONE_LINE_LIMIT) return undefined;
  return line;
}

/**
 * The launcher of behavior.md 7.4: UTF-8 (no BOM) console output, the script through the call
 * operator, the script's exit code. Setting the console encoding is guarded because a host
 * without a console handle throws there, and that must not become the script's error.
 */
export function powershellLauncher(scriptPath: string, platform: NodeJS.Platform): string {
  const eol = platform === "win32" ? "\r\n" : "\n";
  return [
    "try { [Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false } catch { }",
    "$OutputEncoding = New-Object System.Text.UTF8Encoding $false",
    "$global:LASTEXITCODE = 0",
    `& ${psSingleQuoted(scriptPath)}`,
    "exit $LASTEXITCODE",
    "",
  ].join(eol);
}

/**
 * A PowerShell single-quoted literal. PowerShell also ends a single-quoted string at the
 * typographic quotes U+2018–U+201B, so those are doubled too.
 */
export function psSingleQuoted(text: string): string {
  return `'${text.replace(/['\u2018\u2019\u201a\u201b]/g, "$&$&")}'`;
}

export function withBom(text: string): Uint8Array {
  const body = Buffer.from(text, "utf8");
  const out = new Uint8Array(UTF8_BOM.length + body.length);
  out.set(UTF8_BOM, 0);
  out.set(body, UTF8_BOM.length);
  return out;
}

/** Batch files with bare LF line ends break `goto` and labels in cmd.exe. */
function toCrlf(text: string): string {
  return text.replace(/\r?\n/g, "\r\n");
}
