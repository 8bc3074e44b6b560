// The few options the launcher reads before handing the command line, unchanged, to the release
// it runs (which parses it fully and reports usage errors).

export interface LauncherArgs {
  supervise: boolean;
  version: boolean;
  help: boolean;
  /** `--config <file>` / `--config=<file>`; "" when the flag has no value. */
  config: string | undefined;
  /** The arguments without `--supervise`, for the supervised child. */
  forChild: string[];
}

export const SUPERVISE_FLAG = "--supervise";

export function scanArgs(args: readonly string[]): LauncherArgs {
  const out: LauncherArgs = {
    supervise: false,
    version: false,
    help: false,
    config: undefined,
    forChild: [],
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? "";
    if (a === "--") {
      out.forChild.push(...args.slice(i));
      break;
    }
    if (a === SUPERVISE_FLAG) {
      out.supervise = true;
      continue;
    }
    out.forChild.push(a);
    if (a === "--version") out.version = true;
    else if (a === "--help" || a === "-h") out.help = true;
    else if (a === "--config") {
      const value = args[i + 1];
      out.config = value ?? "";
      if (value !== undefined) {
        out.forChild.push(value);
        i++;
      }
    } else if (a.startsWith("--config=")) out.config = a.slice("--config=".length);
  }
  return out;
}
