// `kanade keys generate`: a command-signing key pair (behavior.md §17). The private key goes to an
// owner-only file that `kanade run --key` reads; the public half is printed as a keyring entry
// and can be merged into an agent's `[signing] keys_file`.
import { constants } from "node:fs";
import { open, unlink } from "node:fs/promises";
import { type Command, InvalidArgumentError } from "commander";
import { atomicWrite } from "../../services/fs/atomicWrite.js";
import {
  formatPrivateKeyFile,
  generateKeyPair,
  keyringEntry,
  MAX_KEYRING_BYTES,
  parseKeyring,
  parsePrivateKeyFile,
} from "../../services/signing/index.js";
import { parseJson } from "../../services/wire/index.js";
import type { CliContext, Runner } from "../context.js";
import { EXIT, failed, oneLine, usageError } from "../errors.js";
import { durationArg } from "../options.js";

/** The keyring's own bound on a kid (signing/keyring.ts). */
const MAX_KID_BYTES = 200;
/** A private key file is a few dozen bytes; anything this large is the wrong file. */
const MAX_PRIVATE_KEY_BYTES = 64 * 1024;
/** The private key file: owner read/write only. */
const PRIVATE_KEY_MODE = 0o600;
/** A new keys file: public keys, readable by all, writable by the owner only (the agent checks). */
const NEW_KEYS_FILE_MODE = 0o644;
// A kid travels in a NATS header (`Kanade-Sig-Kid`): no whitespace or control characters, and a
// charset that survives shells and TOML without quoting surprises.
const KID_PATTERN = /^[A-Za-z0-9._:@/+=-]+$/;

/** What `kid` would break, or null. Also applied to the kid of a private key file. */
export function kidProblem(kid: string): string | null {
  if (kid === "") return "a kid must not be empty";
  if (Buffer.byteLength(kid) > MAX_KID_BYTES) return `a kid is at most ${MAX_KID_BYTES} bytes`;
  if (!KID_PATTERN.test(kid)) {
    return `kid ${JSON.stringify(kid)} may only hold A-Z a-z 0-9 and . _ : @ / + = -`;
  }
  return null;
}

function kidArg(value: string): string {
  const problem = kidProblem(value);
  if (problem !== null) throw new InvalidArgumentError(problem);
  return value;
}

export interface PrivateKey {
  kid: string;
  seed: Uint8Array;
}

/**
 * Reads a private key file written by `kanade keys generate` (bounded). Throws a CliError naming
 * the file, never the key; warns when group or others may read it (POSIX).
 */
export async function readPrivateKey(ctx: CliContext, path: string): Promise<PrivateKey> {
  let text: string;
  let mode: number;
  try {
    const file = await readBounded(path, MAX_PRIVATE_KEY_BYTES, "not a private key file");
    text = file.content.toString("utf8");
    mode = file.mode;
  } catch (err) {
    throw failed(`private key file ${path}: ${oneLine(err)}`, err);
  }
  let key: PrivateKey;
  try {
    key = parsePrivateKeyFile(text);
  } catch (err) {
    throw failed(`${path}: ${oneLine(err)}`, err);
  }
  const problem = kidProblem(key.kid);
  if (problem !== null) throw failed(`private key file ${path}: ${problem}`);
  if (process.platform !== "win32" && (mode & 0o077) !== 0) {
    ctx.warn(`private key file ${path} is accessible by group or others (chmod 600 ${path})`);
  }
  return key;
}

interface GenerateOptions {
  kid?: string;
  out?: string;
  keysFile?: string;
  label?: string;
  maxAge?: number;
  force?: boolean;
}

export function registerKeys(program: Command, run: Runner): void {
  const keys = program
    .command("keys")
    .description(
      "command-signing keys (agents with [signing] require = true run only signed commands)",
    );

  keys
    .command("generate")
    .description(
      "create an Ed25519 signing key pair: the private key goes to a file, the public keyring " +
        "entry is printed (and optionally added to an agent keys file)",
    )
    .option(
      "--kid <id>",
      "key id (default: kanade-<12 hex digits of the public key's SHA-256>)",
      kidArg,
    )
    .option("--out <file>", "private key file, created owner-only (0600) (default: ./<kid>.key)")
    .option(
      "--keys-file <file>",
      "also add the public key to this agent keys file (a JSON array; created when missing; an " +
        "entry with the same kid is replaced)",
    )
    .option("--label <text>", "the entry's label (who or what the key is for)")
    .option(
      "--max-age <duration>",
      "agents refuse signatures older (or newer) than this, as `stale` (default: no bound; " +
        "replayed commands may be up to 7 days old)",
      durationArg,
    )
    .option("--force", "overwrite an existing private key file")
    .addHelpText(
      "after",
      [
        "",
        "Output: the keyring entry as one line of JSON on stdout (notes go to stderr); with",
        "--json one document {entry, key_file, keys_file?, keys_file_change?}.",
        "",
        "The keys file is what an agent's agent.toml names:",
        "  [signing]",
        "  require = true",
        '  keys_file = "keys.json"',
        "Agents re-read it when they meet an unknown kid (at most once a minute).",
        "",
        "Example: kanade keys generate --kid ops-2026 --out ~/.kanade/ops.key --keys-file keys.json",
        "         kanade run PC1234 --key ~/.kanade/ops.key -- hostname",
      ].join("\n"),
    )
    .action((opts: GenerateOptions, cmd: Command) => run(cmd, (ctx) => generate(ctx, opts)));
}

async function generate(ctx: CliContext, opts: GenerateOptions): Promise<number> {
  const pair = generateKeyPair();
  const kid = opts.kid ?? pair.kid;
  let maxAgeSecs: number | undefined;
  if (opts.maxAge !== undefined) {
    if (opts.maxAge < 1000) throw usageError("--max-age must be at least 1s");
    maxAgeSecs = Math.ceil(opts.maxAge / 1000);
  }
  const entry = keyringEntry(kid, pair.publicKeyB64, {
    ...(opts.label === undefined ? {} : { label: opts.label }),
    ...(maxAgeSecs === undefined ? {} : { maxAgeSecs }),
  });
  const keyFile = opts.out ?? `${kid.replace(/[/:]/g, "_")}.key`;

  // Check the keys file before creating anything, so a broken one leaves no orphan private key.
  const merged =
    opts.keysFile === undefined ? undefined : await mergeEntry(opts.keysFile, kid, entry);

  await writePrivateKey(keyFile, formatPrivateKeyFile(kid, pair.seed), opts.force === true);
  if (merged !== undefined && opts.keysFile !== undefined) {
    try {
      await atomicWrite(opts.keysFile, merged.text, merged.mode);
    } catch (err) {
      throw failed(
        `write keys file ${opts.keysFile}: ${oneLine(err)} (the private key was written to ${keyFile})`,
        err,
      );
    }
  }

  if (ctx.json) {
    ctx.printJson({
      entry,
      key_file: keyFile,
      ...(merged === undefined
        ? {}
        : { keys_file: opts.keysFile, keys_file_change: merged.change }),
    });
    return EXIT.ok;
  }
  ctx.io.stdout.write(`${JSON.stringify(entry)}\n`);
  ctx.io.stderr.write(`private key of ${kid} written to ${keyFile} (owner-only; keep it secret)\n`);
  if (merged !== undefined) {
    const where = merged.change === "added" ? "to" : "in";
    ctx.io.stderr.write(`${merged.change} ${kid} ${where} ${opts.keysFile}\n`);
  } else {
    ctx.io.stderr.write(
      "add the entry above to the JSON array of each agent's [signing] keys_file\n",
    );
  }
  return EXIT.ok;
}

/** Creates the private key file, owner-only; an existing file is replaced only with `force`. */
async function writePrivateKey(path: string, text: string, force: boolean): Promise<void> {
  if (force) {
    try {
      await atomicWrite(path, text, PRIVATE_KEY_MODE);
    } catch (err) {
      throw failed(`write private key file ${path}: ${oneLine(err)}`, err);
    }
    return;
  }
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    // O_EXCL: never replace a key someone may still need, even if it appears meanwhile.
    fh = await open(
      path,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL,
      PRIVATE_KEY_MODE,
    );
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") {
      throw failed(`private key file ${path} already exists (use --force to replace it)`);
    }
    throw failed(`create private key file ${path}: ${oneLine(err)}`, err);
  }
  try {
    await fh.writeFile(text);
    await fh.sync();
    await fh.close();
  } catch (err) {
    await fh.close().catch(() => {});
    await unlink(path).catch(() => {});
    throw failed(`write private key file ${path}: ${oneLine(err)}`, err);
  }
}

interface MergedKeys {
  text: string;
  mode: number;
  change: "added" | "replaced";
}

/**
 * The keys file with `entry` added, or replacing the entry of the same kid; other entries are
 * kept as they are. Refuses (exit 1, file untouched) when the file is not a JSON array or the
 * result would not load in an agent.
 */
async function mergeEntry(
  path: string,
  kid: string,
  entry: Record<string, unknown>,
): Promise<MergedKeys> {
  const existing = await readKeysFile(path);
  const items = existing?.items ?? [];
  // The keyring is a local file format of the signing service; `kid` is its member name there.
  const others = items.filter(
    (item) =>
      !(typeof item === "object" && item !== null && (item as { kid?: unknown }).kid === kid),
  );
  const change = others.length === items.length ? "added" : "replaced";
  const text = `${JSON.stringify([...others, entry], null, 2)}\n`;
  if (Buffer.byteLength(text) > MAX_KEYRING_BYTES) {
    throw failed(`keys file ${path} would exceed ${MAX_KEYRING_BYTES} bytes; not changed`);
  }
  try {
    parseKeyring(text, path);
  } catch (err) {
    throw failed(`${oneLine(err)} (not changed)`, err);
  }
  // Keep the file's own permissions, minus write access for others: the agent refuses that.
  const mode = existing === undefined ? NEW_KEYS_FILE_MODE : existing.mode & 0o755;
  return { text, mode, change };
}

async function readKeysFile(path: string): Promise<{ items: unknown[]; mode: number } | undefined> {
  let file: { content: Buffer; mode: number };
  try {
    file = await readBounded(path, MAX_KEYRING_BYTES, "not changed");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw failed(`keys file ${path}: ${oneLine(err)}`, err);
  }
  const { content, mode } = file;
  // An empty file is the natural way to prepare one: treat it as no keys yet.
  if (content.toString("utf8").trim() === "") return { items: [], mode };
  const parsed = parseJson(new Uint8Array(content));
  if (!parsed.ok) {
    throw failed(`keys file ${path}: ${parsed.error.message}; not changed`);
  }
  if (!Array.isArray(parsed.value)) {
    throw failed(`keys file ${path}: expected a JSON array; not changed`);
  }
  return { items: parsed.value, mode };
}

/** A regular file's content, at most `max` bytes (larger → an error saying `tooLarge`). */
async function readBounded(
  path: string,
  max: number,
  tooLarge: string,
): Promise<{ content: Buffer; mode: number }> {
  const fh = await open(path, "r");
  try {
    const info = await fh.stat();
    if (!info.isFile()) throw new Error("not a regular file");
    const buffer = Buffer.alloc(max + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await fh.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > max) throw new Error(`larger than ${max} bytes: ${tooLarge}`);
    return { content: buffer.subarray(0, length), mode: info.mode };
  } finally {
    await fh.close();
  }
}
