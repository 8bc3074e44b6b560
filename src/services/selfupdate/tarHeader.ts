// The ustar header block (POSIX.1-1988), shared by the release packer and the unpacker.

export const BLOCK = 512;

export type TarEntryType =
  | "file"
  | "directory"
  | "hardlink"
  | "symlink"
  | "char-device"
  | "block-device"
  | "fifo"
  | "pax-header"
  | "pax-global"
  | "gnu-longname"
  | "gnu-longlink"
  | "other";

const TYPE_FLAGS: Readonly<Record<string, TarEntryType>> = {
  "0": "file",
  "\0": "file",
  // Contiguous file: a regular file for every reader but a few historic ones.
  "7": "file",
  "1": "hardlink",
  "2": "symlink",
  "3": "char-device",
  "4": "block-device",
  "5": "directory",
  "6": "fifo",
  x: "pax-header",
  g: "pax-global",
  L: "gnu-longname",
  K: "gnu-longlink",
};

const FLAG_OF: Readonly<Partial<Record<TarEntryType, string>>> = {
  file: "0",
  hardlink: "1",
  symlink: "2",
  "char-device": "3",
  "block-device": "4",
  directory: "5",
  fifo: "6",
  "pax-header": "x",
  "pax-global": "g",
  "gnu-longname": "L",
  "gnu-longlink": "K",
};

export interface TarHeader {
  /** Full name (ustar prefix joined), before any pax or GNU override. */
  name: string;
  type: TarEntryType;
  /** The raw type flag, for messages. */
  flag: string;
  mode: number;
  size: number;
  mtime: number;
  linkname: string;
}

export class TarFormatError extends Error {}

/** Decodes one header block; throws TarFormatError on a bad checksum or number. */
export function decodeHeader(h: Uint8Array): TarHeader {
  const b = Buffer.from(h.buffer, h.byteOffset, BLOCK);
  const stored = parseNumber(b.subarray(148, 156), "checksum");
  if (!checksumMatches(b, stored)) throw new TarFormatError("header checksum mismatch");
  const ustar = b.subarray(257, 262).toString("latin1") === "ustar";
  const name = text(b, 0, 100);
  const prefix = ustar ? text(b, 345, 155) : "";
  const flag = String.fromCharCode(b[156] ?? 0);
  return {
    name: prefix ? `${prefix}/${name}` : name,
    type: TYPE_FLAGS[flag] ?? "other",
    flag,
    mode: parseNumber(b.subarray(100, 108), "mode"),
    size: parseNumber(b.subarray(124, 136), "size"),
    mtime: parseNumber(b.subarray(136, 148), "mtime"),
    linkname: text(b, 157, 100),
  };
}

export interface HeaderFields {
  name: string;
  type: TarEntryType;
  size: number;
  mode: number;
  /** Seconds since the epoch. */
  mtime: number;
  linkname?: string;
}

/** Encodes a ustar header; names longer than 100 bytes are split into prefix and name. */
export function encodeHeader(f: HeaderFields): Buffer {
  const b = Buffer.alloc(BLOCK);
  const [prefix, name] = splitName(f.name);
  b.write(name, 0, 100, "utf8");
  writeOctal(b, 100, 8, f.mode);
  writeOctal(b, 108, 8, 0);
  writeOctal(b, 116, 8, 0);
  writeOctal(b, 124, 12, f.size);
  writeOctal(b, 136, 12, f.mtime);
  b.fill(0x20, 148, 156);
  b.write(FLAG_OF[f.type] ?? "0", 156, 1, "latin1");
  if (f.linkname) b.write(f.linkname, 157, 100, "utf8");
  b.write("ustar\0", 257, 6, "latin1");
  b.write("00", 263, 2, "latin1");
  if (prefix) b.write(prefix, 345, 155, "utf8");
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8, "latin1");
  return b;
}

function splitName(full: string): [string, string] {
  if (Buffer.byteLength(full) <= 100) return ["", full];
  for (let i = full.lastIndexOf("/"); i > 0; i = full.lastIndexOf("/", i - 1)) {
    const prefix = full.slice(0, i);
    const name = full.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100) return [prefix, name];
  }
  throw new TarFormatError(`name too long for a ustar header: ${full}`);
}

function writeOctal(b: Buffer, at: number, len: number, n: number): void {
  const digits = n.toString(8);
  if (digits.length > len - 1) throw new TarFormatError(`number ${n} does not fit a tar header`);
  b.write(`${digits.padStart(len - 1, "0")}\0`, at, len, "latin1");
}

function text(b: Buffer, at: number, len: number): string {
  const field = b.subarray(at, at + len);
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? len : end).toString("utf8");
}

/** Octal, or GNU base-256 (high bit of the first byte set) for large numbers. */
function parseNumber(field: Buffer, what: string): number {
  if (((field[0] ?? 0) & 0x80) !== 0) {
    let n = (field[0] ?? 0) & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + (field[i] ?? 0);
    if (!Number.isSafeInteger(n)) throw new TarFormatError(`${what} out of range`);
    return n;
  }
  const digits = field
    .toString("latin1")
    .replace(/[\0 ]+$/g, "")
    .replace(/^ +/, "");
  if (digits === "") return 0;
  if (!/^[0-7]+$/.test(digits)) throw new TarFormatError(`${what} is not an octal number`);
  const n = Number.parseInt(digits, 8);
  if (!Number.isSafeInteger(n)) throw new TarFormatError(`${what} out of range`);
  return n;
}

function checksumMatches(b: Buffer, stored: number): boolean {
  // Unsigned per POSIX; some old writers summed signed bytes.
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : (b[i] ?? 0);
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return stored === unsigned || stored === signed;
}
