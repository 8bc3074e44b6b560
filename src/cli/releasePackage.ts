// Reading `package/package.json` out of an npm-pack tarball (.tgz) without unpacking it, so that
// `kanade agent publish` can take the release version from the artifact itself.

import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { createGunzip } from "node:zlib";

const BLOCK = 512;
const MANIFEST_PATH = "package/package.json";
/** A package.json larger than this is not a real one. */
const MAX_MANIFEST_BYTES = 1024 * 1024;

export interface PackageManifest {
  name: string | undefined;
  version: string | undefined;
}

/** Whether the file starts with the gzip magic bytes. */
export async function isGzip(path: string): Promise<boolean> {
  const fh = await open(path, "r");
  try {
    const head = Buffer.alloc(2);
    const { bytesRead } = await fh.read(head, 0, 2, 0);
    return bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

/**
 * The `name` and `version` of `package/package.json` in a gzip-compressed tar; null when the
 * archive has no such entry. Rejects when the file is not a readable gzip/tar.
 */
export async function readPackageManifest(path: string): Promise<PackageManifest | null> {
  const source = createReadStream(path).pipe(createGunzip());
  const reader = new ChunkReader(source[Symbol.asyncIterator]() as AsyncIterator<Buffer>);
  try {
    let paxPath: string | undefined;
    for (;;) {
      const header = await reader.read(BLOCK);
      if (header === null || header.every((b) => b === 0)) return null;
      const entry = parseHeader(header);
      const padded = Math.ceil(entry.size / BLOCK) * BLOCK;
      if (entry.type === "x") {
        // A pax header: its `path` record names the next entry.
        const data = await reader.read(padded);
        if (data === null) return null;
        paxPath = paxRecord(data.subarray(0, entry.size), "path");
        continue;
      }
      const name = paxPath ?? entry.name;
      paxPath = undefined;
      const isFile = entry.type === "0" || entry.type === "\0";
      if (isFile && name.replace(/^\.\//, "") === MANIFEST_PATH) {
        if (entry.size > MAX_MANIFEST_BYTES) throw new Error(`${MANIFEST_PATH} is too large`);
        const data = await reader.read(padded);
        if (data === null) throw new Error(`${MANIFEST_PATH} is cut short`);
        return manifestOf(data.subarray(0, entry.size));
      }
      if (!(await reader.skip(padded))) return null;
    }
  } finally {
    source.destroy();
  }
}

function manifestOf(bytes: Buffer): PackageManifest {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    throw new Error(`${MANIFEST_PATH} is not valid JSON: ${(err as Error).message}`);
  }
  const obj = (typeof json === "object" && json !== null ? json : {}) as Record<string, unknown>;
  return {
    name: typeof obj.name === "string" ? obj.name : undefined,
    version: typeof obj.version === "string" ? obj.version : undefined,
  };
}

interface TarHeader {
  name: string;
  size: number;
  type: string;
}

function parseHeader(h: Buffer): TarHeader {
  const text = (from: number, len: number) => {
    const field = h.subarray(from, from + len);
    const end = field.indexOf(0);
    return field.subarray(0, end < 0 ? len : end).toString("utf8");
  };
  const name = text(0, 100);
  const ustar = text(257, 6).startsWith("ustar");
  const prefix = ustar ? text(345, 155) : "";
  return {
    name: prefix ? `${prefix}/${name}` : name,
    size: parseSize(h.subarray(124, 136)),
    type: String.fromCharCode(h[156] ?? 0),
  };
}

/** Octal, or GNU base-256 for large sizes (high bit of the first byte set). */
function parseSize(field: Buffer): number {
  if (((field[0] ?? 0) & 0x80) !== 0) {
    let n = (field[0] ?? 0) & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + (field[i] ?? 0);
    return n;
  }
  const digits = field.toString("ascii").replace(/[\0 ]+/g, "");
  const n = digits === "" ? 0 : Number.parseInt(digits, 8);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error("not a tar archive (bad entry size)");
  return n;
}

function paxRecord(data: Buffer, key: string): string | undefined {
  for (const line of data.toString("utf8").split("\n")) {
    const record = line.slice(line.indexOf(" ") + 1);
    if (record.startsWith(`${key}=`)) return record.slice(key.length + 1);
  }
  return undefined;
}

/** Exact-size reads over a stream of chunks. */
class ChunkReader {
  #chunks: Buffer[] = [];
  #buffered = 0;
  #done = false;
  constructor(readonly source: AsyncIterator<Buffer>) {}

  async #fill(n: number): Promise<boolean> {
    while (this.#buffered < n && !this.#done) {
      const next = await this.source.next();
      if (next.done) this.#done = true;
      else {
        this.#chunks.push(next.value);
        this.#buffered += next.value.length;
      }
    }
    return this.#buffered >= n;
  }

  /** `n` bytes, or null when the stream ends first. */
  async read(n: number): Promise<Buffer | null> {
    if (!(await this.#fill(n))) return null;
    const all = Buffer.concat(this.#chunks);
    this.#chunks = [all.subarray(n)];
    this.#buffered = all.length - n;
    return all.subarray(0, n);
  }

  /** Drops `n` bytes without keeping them; false when the stream ends first. */
  async skip(n: number): Promise<boolean> {
    let left = n;
    while (left > 0) {
      if (this.#buffered === 0 && !(await this.#fill(1))) return false;
      const first = this.#chunks[0];
      if (first === undefined) return false;
      const take = Math.min(left, first.length);
      if (take === first.length) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(take);
      this.#buffered -= take;
      left -= take;
    }
    return true;
  }
}
