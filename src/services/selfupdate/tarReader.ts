// A streaming ustar/pax reader: entries come one by one with their data as an async iterable, so a
// release is unpacked without holding it in memory. It decodes; the caller decides what is safe.

import { BLOCK, decodeHeader, type TarEntryType, TarFormatError } from "./tarHeader.js";

export interface TarEntry {
  /** Name after pax `path` / GNU long-name overrides. */
  path: string;
  type: TarEntryType;
  /** The raw type flag, for messages. */
  flag: string;
  mode: number;
  size: number;
  linkname: string;
}

/** pax and GNU long-name records are a few hundred bytes; anything this large is hostile. */
const MAX_META_BYTES = 1024 * 1024;

/**
 * Calls `onEntry` for every entry in archive order (pax and GNU meta entries are applied, not
 * passed on). `onEntry` may read `body` or leave it; what it leaves is skipped. Throws
 * TarFormatError on a malformed or truncated archive.
 */
export async function walkTar(
  source: AsyncIterable<Uint8Array>,
  onEntry: (entry: TarEntry, body: AsyncIterable<Buffer>) => Promise<void>,
): Promise<void> {
  const reader = new ByteReader(source[Symbol.asyncIterator]());
  let pax: Record<string, string> = {};
  let longName: string | undefined;
  let longLink: string | undefined;
  for (;;) {
    const block = await reader.read(BLOCK);
    if (block === null) throw new TarFormatError("archive ends without its end marker");
    if (isZero(block)) return;
    const h = decodeHeader(block);
    const size = pax.size !== undefined ? parseSize(pax.size) : h.size;
    const padded = Math.ceil(size / BLOCK) * BLOCK;

    if (h.type === "pax-header" || h.type === "pax-global" || h.type.startsWith("gnu-")) {
      if (size > MAX_META_BYTES) throw new TarFormatError(`${h.type} entry too large`);
      const data = await reader.read(padded);
      if (data === null) throw new TarFormatError("archive cut short in a meta entry");
      const body = data.subarray(0, size);
      if (h.type === "pax-header") pax = { ...pax, ...parsePax(body) };
      else if (h.type === "gnu-longname") longName = cString(body);
      else if (h.type === "gnu-longlink") longLink = cString(body);
      // Global pax records set defaults nobody relies on for a package: ignored.
      continue;
    }

    const entry: TarEntry = {
      path: pax.path ?? longName ?? h.name,
      type: h.type,
      flag: h.flag,
      mode: h.mode,
      size: h.type === "file" ? size : 0,
      linkname: pax.linkpath ?? longLink ?? h.linkname,
    };
    pax = {};
    longName = undefined;
    longLink = undefined;
    // Only regular files carry data in a package; other types' sizes are skipped unread.
    const dataBytes = h.type === "file" ? size : h.type === "directory" ? 0 : size;
    let left = entry.size;
    const body: AsyncIterable<Buffer> = {
      [Symbol.asyncIterator]: async function* () {
        while (left > 0) {
          const chunk = await reader.readSome(left);
          if (chunk === null) throw new TarFormatError(`archive cut short in ${entry.path}`);
          left -= chunk.length;
          yield chunk;
        }
      },
    };
    await onEntry(entry, body);
    const rest = left + (Math.ceil(dataBytes / BLOCK) * BLOCK - entry.size);
    if (!(await reader.skip(rest))) throw new TarFormatError(`archive cut short in ${entry.path}`);
  }
}

function parseSize(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) throw new TarFormatError(`bad pax size ${text}`);
  return n;
}

/** pax extended header records: `<length> <key>=<value>\n`. */
function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0) break;
    const len = Number.parseInt(data.subarray(at, space).toString("latin1"), 10);
    if (!Number.isSafeInteger(len) || len <= 0 || at + len > data.length)
      throw new TarFormatError("malformed pax record");
    const record = data.subarray(space + 1, at + len - 1).toString("utf8");
    const eq = record.indexOf("=");
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    at += len;
  }
  return out;
}

function cString(data: Buffer): string {
  const end = data.indexOf(0);
  return data.subarray(0, end < 0 ? data.length : end).toString("utf8");
}

function isZero(b: Buffer): boolean {
  for (const byte of b) if (byte !== 0) return false;
  return true;
}

/** Exact and partial reads over a stream of chunks. */
class ByteReader {
  #chunks: Buffer[] = [];
  #buffered = 0;
  #done = false;
  constructor(private readonly source: AsyncIterator<Uint8Array>) {}

  async #fill(n: number): Promise<boolean> {
    while (this.#buffered < n && !this.#done) {
      const next = await this.source.next();
      if (next.done) this.#done = true;
      else if (next.value.length > 0) {
        const b = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.length);
        this.#chunks.push(b);
        this.#buffered += b.length;
      }
    }
    return this.#buffered >= n;
  }

  /** Exactly `n` bytes, or null when the stream ends first. */
  async read(n: number): Promise<Buffer | null> {
    if (!(await this.#fill(n))) return null;
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#take(n - filled);
      chunk.copy(out, filled);
      filled += chunk.length;
    }
    return out;
  }

  /** Between 1 and `max` bytes, or null at the end of the stream. */
  async readSome(max: number): Promise<Buffer | null> {
    if (!(await this.#fill(1))) return null;
    return this.#take(max);
  }

  async skip(n: number): Promise<boolean> {
    let left = n;
    while (left > 0) {
      if (!(await this.#fill(1))) return false;
      left -= this.#take(left).length;
    }
    return true;
  }

  #take(max: number): Buffer {
    const first = this.#chunks[0];
    if (first === undefined) return Buffer.alloc(0);
    if (first.length <= max) {
      this.#chunks.shift();
      this.#buffered -= first.length;
      return first;
    }
    this.#chunks[0] = first.subarray(max);
    this.#buffered -= max;
    return first.subarray(0, max);
  }
}
