/** What was kept of one output stream (behavior.md 7.10, wire §4.5). */
export interface CapturedStream {
  /** The first bytes, up to two thirds of the cap. */
  head: Buffer;
  /** The last bytes, up to one third of the cap; directly follows `head` when nothing dropped. */
  tail: Buffer;
  /** Bytes between `head` and `tail` that were not kept. */
  droppedBytes: number;
  /** Every byte the stream produced: head + dropped + tail. */
  totalBytes: number;
}

export type StreamName = "stdout" | "stderr";

/** 8 MiB per stream (behavior.md §0). */
export const DEFAULT_CAPTURE_BYTES = 8 * 1024 * 1024;

export const emptyCapture = (): CapturedStream => ({
  head: Buffer.alloc(0),
  tail: Buffer.alloc(0),
  droppedBytes: 0,
  totalBytes: 0,
});

/**
 * Keeps the first two thirds and the last third of `maxBytes` of a byte stream and counts the
 * rest; memory stays bounded by the cap plus one chunk whatever the child writes.
 */
export class StreamCapture {
  private readonly headCap: number;
  private readonly tailCap: number;
  private readonly headChunks: Buffer[] = [];
  private headLen = 0;
  private tailChunks: Buffer[] = [];
  private tailLen = 0;
  private dropped = 0;
  private total = 0;

  constructor(maxBytes: number = DEFAULT_CAPTURE_BYTES) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
      throw new RangeError(`capture cap must be a whole number of bytes ≥ 0, got ${maxBytes}`);
    }
    this.headCap = Math.floor((maxBytes * 2) / 3);
    this.tailCap = maxBytes - this.headCap;
  }

  push(chunk: Buffer): void {
    this.total += chunk.length;
    let rest = chunk;
    if (this.headLen < this.headCap) {
      const take = Math.min(rest.length, this.headCap - this.headLen);
      this.headChunks.push(rest.subarray(0, take));
      this.headLen += take;
      rest = rest.subarray(take);
    }
    if (rest.length === 0) return;
    this.tailChunks.push(rest);
    this.tailLen += rest.length;
    let excess = this.tailLen - this.tailCap;
    if (excess <= 0) return;
    this.dropped += excess;
    this.tailLen -= excess;
    let firstKept = 0;
    while (excess > 0) {
      const first = this.tailChunks[firstKept]!;
      if (first.length <= excess) {
        excess -= first.length;
        firstKept++;
      } else {
        this.tailChunks[firstKept] = first.subarray(excess);
        excess = 0;
      }
    }
    if (firstKept > 0) this.tailChunks = this.tailChunks.slice(firstKept);
  }

  result(): CapturedStream {
    return {
      head: Buffer.concat(this.headChunks, this.headLen),
      tail: Buffer.concat(this.tailChunks, this.tailLen),
      droppedBytes: this.dropped,
      totalBytes: this.total,
    };
  }
}

export function droppedMarker(droppedBytes: number, stream: StreamName): string {
  return `[kanade-agent: ${droppedBytes} bytes of ${stream} dropped]`;
}

/**
 * The text of a captured stream as it goes into an ExecResult: UTF-8 with U+FFFD for invalid
 * bytes, the marker line of wire §4.5 item 3 when bytes were dropped, then the agent notes
 * (wire §4.4), which belong to the tail.
 *
 * Around the gap the cuts move to UTF-8 character boundaries (a split character would only show
 * as U+FFFD); the bytes of such a partial character count as dropped.
 */
export function renderCaptured(
  cs: CapturedStream,
  streamName: StreamName,
  notes: readonly string[] = [],
): string {
  let text: string;
  if (cs.droppedBytes === 0) {
    text = Buffer.concat([cs.head, cs.tail]).toString("utf8");
  } else {
    const headEnd = completeCharsEnd(cs.head);
    const tailStart = leadingContinuationBytes(cs.tail);
    const head = cs.head.subarray(0, headEnd).toString("utf8");
    const tail = cs.tail.subarray(tailStart).toString("utf8");
    const dropped = cs.droppedBytes + (cs.head.length - headEnd) + tailStart;
    const gap = head === "" || head.endsWith("\n") ? "" : "\n";
    text = `${head}${gap}${droppedMarker(dropped, streamName)}\n${tail}`;
  }
  return appendNotes(text, notes);
}

/** Notes are joined with `\n` to a non-empty text; alone they are the whole text (wire §4.4). */
export function appendNotes(text: string, notes: readonly string[]): string {
  let out = text;
  for (const note of notes) out = out === "" ? note : `${out}\n${note}`;
  return out;
}

/** Length of `buf` without a trailing, incomplete UTF-8 sequence (at most 3 bytes cut). */
function completeCharsEnd(buf: Buffer): number {
  for (let i = buf.length - 1; i >= Math.max(0, buf.length - 3); i--) {
    const byte = buf[i]!;
    if ((byte & 0xc0) === 0x80) continue;
    const need = byte >= 0xf0 && byte <= 0xf7 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return i + need > buf.length && byte < 0xf8 ? i : buf.length;
  }
  return buf.length;
}

/** Continuation bytes at the start of `buf` that belong to a character cut off (at most 3). */
function leadingContinuationBytes(buf: Buffer): number {
  let n = 0;
  while (n < 3 && n < buf.length && (buf[n]! & 0xc0) === 0x80) n++;
  return n;
}
