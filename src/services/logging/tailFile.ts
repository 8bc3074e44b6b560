import { open } from "node:fs/promises";

const CHUNK_BYTES = 64 * 1024;
const NEWLINE = 0x0a;

/**
 * The last `lines` lines of a file, joined with `\n` plus a trailing `\n`, cut from the front to
 * at most `maxBytes` at a UTF-8 character boundary (wire.md §4.10). Reads backwards in chunks from
 * the end and never more than about `maxBytes`, so a huge file costs no more than a small one.
 * A file without lines (empty) gives an empty result.
 */
export async function readTail(path: string, lines: number, maxBytes: number): Promise<Buffer> {
  if (lines <= 0 || maxBytes <= 0) return Buffer.alloc(0);
  const handle = await open(path, "r");
  try {
    const size = (await handle.stat()).size;
    if (size === 0) return Buffer.alloc(0);
    const last = await readAt(handle, size - 1, 1);
    const terminated = last[0] === NEWLINE;
    // An unterminated last line gets its `\n` added, which takes one byte of the budget.
    const budget = terminated ? maxBytes : maxBytes - 1;
    const lowest = Math.max(0, size - budget);
    // The line terminator of the last line does not separate lines.
    const scanEnd = terminated ? size - 1 : size;

    const chunks: Buffer[] = [];
    let pos = size;
    let start = lowest;
    let seen = 0;
    search: while (pos > lowest) {
      const from = Math.max(lowest, pos - CHUNK_BYTES);
      const chunk = await readAt(handle, from, pos - from);
      for (let i = Math.min(chunk.length, scanEnd - from) - 1; i >= 0; i--) {
        if (chunk[i] !== NEWLINE) continue;
        seen++;
        if (seen === lines) {
          start = from + i + 1;
          chunks.unshift(chunk.subarray(i + 1));
          break search;
        }
      }
      chunks.unshift(chunk);
      pos = from;
    }
    const body = Buffer.concat(terminated ? chunks : [...chunks, Buffer.from("\n")]);
    // Only a start forced by the byte cap can fall inside a character.
    return start === lowest ? body.subarray(continuationBytesAt(body)) : body;
  } finally {
    await handle.close();
  }
}

async function readAt(
  handle: Awaited<ReturnType<typeof open>>,
  position: number,
  length: number,
): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buf, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return buf.subarray(0, done);
}

/** How many UTF-8 continuation bytes (10xxxxxx) open `buf`; at most 3 in valid text. */
function continuationBytesAt(buf: Buffer): number {
  let n = 0;
  while (n < buf.length && n < 3 && ((buf[n] ?? 0) & 0xc0) === 0x80) n++;
  return n;
}
