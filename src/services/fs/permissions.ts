// Local hardening on POSIX: a path the agent trusts (its data directory, the signing keys file)
// must not be writable by anyone but its owner. Whoever can write `ledger/` or `scripts/` can make
// the agent run or skip commands; whoever can write the keys file can sign commands.
import { stat } from "node:fs/promises";
import { dirname } from "node:path";

export interface TrustedPath {
  path: string;
  /** What it is, for the message: "data directory", "signing keys file". */
  what: string;
  /** The agent.toml key that names it, for the message. */
  key: string;
}

export interface PermissionProblem extends TrustedPath {
  mode: number;
  message: string;
}

const GROUP_OR_OTHER_WRITE = 0o022;
const GROUP_OR_OTHER_READ = 0o044;

/**
 * The first trusted path that group or others can write, or null. Missing paths are skipped (the
 * agent creates them owner-only). Always null on Windows, where modes do not describe the ACLs.
 */
export async function findWritableByOthers(
  paths: readonly TrustedPath[],
  platform: NodeJS.Platform = process.platform,
): Promise<PermissionProblem | null> {
  if (platform === "win32") return null;
  for (const p of paths) {
    const mode = await modeOf(p.path);
    if (mode === undefined || (mode & GROUP_OR_OTHER_WRITE) === 0) continue;
    const octal = (mode & 0o7777).toString(8).padStart(4, "0");
    return {
      ...p,
      mode,
      message:
        `${p.what} ${p.path} is writable by group or others (mode ${octal}); ` +
        `restrict it with: chmod go-w ${shellQuote(p.path)}`,
    };
  }
  return null;
}

/** Trusted paths that group or others can read: worth a warning (results may hold secrets). */
export async function findReadableByOthers(
  paths: readonly TrustedPath[],
  platform: NodeJS.Platform = process.platform,
): Promise<TrustedPath[]> {
  if (platform === "win32") return [];
  const out: TrustedPath[] = [];
  for (const p of paths) {
    const mode = await modeOf(p.path);
    if (mode !== undefined && (mode & GROUP_OR_OTHER_READ) !== 0) out.push(p);
  }
  return out;
}

/**
 * The data directory and the folders the agent keeps in it: the root alone is not enough when it
 * is traversable by others (0755) and a sub-folder is writable by them.
 */
export function dataDirPaths(root: string): TrustedPath[] {
  const key = "agent.data_dir";
  return [
    { path: root, what: "data directory", key },
    ...["ledger", "outbox", "events-outbox", "staging", "scripts"].map((sub) => ({
      path: `${root.replace(/[\\/]+$/, "")}/${sub}`,
      what: "data directory folder",
      key,
    })),
  ];
}

/** The keys file and the folder holding it (a writable folder lets others replace the file). */
export function keysFilePaths(file: string): TrustedPath[] {
  const key = "signing.keys_file";
  return [
    { path: file, what: "signing keys file", key },
    { path: dirname(file), what: "folder of the signing keys file", key },
  ];
}

async function modeOf(path: string): Promise<number | undefined> {
  try {
    // stat follows a symlink: what matters is the file the agent ends up reading.
    return (await stat(path)).mode;
  } catch {
    return undefined;
  }
}

function shellQuote(path: string): string {
  return /^[A-Za-z0-9_./-]+$/.test(path) ? path : `'${path.replace(/'/g, "'\\''")}'`;
}
