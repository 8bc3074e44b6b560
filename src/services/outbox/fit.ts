// "No result too big for the broker" (behavior.md 8.5, wire.md §4.5): an ExecResult is sent
// whole when it fits, else with whole streams moved to `result_output`, else truncated to a head,
// one marker line and a tail, two thirds to one third in raw bytes.

import { type CapturedStream, droppedMarker, type StreamName } from "../exec/capture.js";
import { resultOutputKey } from "../nats/subjects.js";
import { encodeExecResult } from "../wire/execResult.js";
import type { ExecResult } from "../wire/types.js";
import { jsonTextCost } from "./jsonCost.js";

/** Bytes under the server's `max_payload` reserved for headers (behavior.md §0). */
export const HEADER_RESERVE = 1024;
/** `max_payload` when the server did not say (the nats-server default). */
export const DEFAULT_MAX_PAYLOAD = 1_048_576;

export const payloadBudget = (maxPayload: number): number => maxPayload - HEADER_RESERVE;

/**
 * One output stream as raw bytes: `head ‖ <dropped bytes> ‖ tail`, or `head ‖ tail` when nothing
 * was dropped. The last `keep` bytes of the stream are agent notes (with the `\n` that joins them),
 * which every rendering shows. Raw bytes, not text, so that cuts and the marker's count are exact
 * even for invalid UTF-8.
 */
export interface StreamSource {
  head: Buffer;
  tail: Buffer;
  dropped: number;
  keep: number;
}

export type StreamSources = Record<StreamName, StreamSource>;

const EMPTY = Buffer.alloc(0);
const NEWLINE = 0x0a;
// A cut moves at most this far to reach a UTF-8 character boundary (wire §4.5: ±4 bytes).
const MAX_CUT_MOVE = 3;
// Bounds the shrink loop; the marker-only rendering ends it in any case.
const MAX_SHRINK_ROUNDS = 64;

const isContinuation = (byte: number | undefined): boolean =>
  byte !== undefined && (byte & 0xc0) === 0x80;

/** A stream whose raw bytes are exactly the UTF-8 of `text` (what the file holds inline). */
export function sourceFromText(text: string, keep = 0): StreamSource {
  const head = Buffer.from(text, "utf8");
  return { head, tail: EMPTY, dropped: 0, keep: clamp(keep, 0, head.length) };
}

/**
 * A captured stream plus agent notes (wire §4.4: joined with `\n` to a non-empty stream,
 * otherwise alone). Around a capture gap the cuts are moved to character boundaries, as the
 * exec layer's rendering does; the bytes of a split character count as dropped.
 */
export function sourceFromCapture(cs: CapturedStream, notes: readonly string[] = []): StreamSource {
  const capturedEmpty = cs.head.length === 0 && cs.tail.length === 0 && cs.droppedBytes === 0;
  const notesBytes =
    notes.length === 0 ? EMPTY : Buffer.from(`${capturedEmpty ? "" : "\n"}${notes.join("\n")}`);
  if (cs.droppedBytes === 0) {
    return {
      head: Buffer.concat([cs.head, cs.tail, notesBytes]),
      tail: EMPTY,
      dropped: 0,
      keep: notesBytes.length,
    };
  }
  const headEnd = completeCharsEnd(cs.head);
  let tailStart = 0;
  while (tailStart < MAX_CUT_MOVE && isContinuation(cs.tail[tailStart])) tailStart++;
  return {
    head: cs.head.subarray(0, headEnd),
    tail: Buffer.concat([cs.tail.subarray(tailStart), notesBytes]),
    dropped: cs.droppedBytes + (cs.head.length - headEnd) + tailStart,
    keep: notesBytes.length,
  };
}

/** The whole captured text: the form sent when it fits and uploaded to `result_output`. */
export function renderWhole(src: StreamSource, stream: StreamName): string {
  if (src.dropped === 0) {
    return (src.tail.length === 0 ? src.head : Buffer.concat([src.head, src.tail])).toString(
      "utf8",
    );
  }
  return withMarker(src.head, src.dropped, stream, src.tail);
}

/** Number of raw bytes of the stream (process output and notes). */
export const rawLength = (src: StreamSource): number =>
  src.head.length + src.dropped + src.tail.length;

function withMarker(head: Buffer, n: number, stream: StreamName, tail: Buffer): string {
  const gap = head.length > 0 && head[head.length - 1] !== NEWLINE ? "\n" : "";
  return `${head.toString("utf8")}${gap}${droppedMarker(n, stream)}\n${tail.toString("utf8")}`;
}

/** Where a truncated rendering cuts the stream. */
interface CutPlan {
  /** Raw bytes shown from the start of the stream. */
  headBytes: number;
  /** Raw bytes shown from the end of the stream (notes included). */
  tailBytes: number;
  /** N of the marker: raw bytes not shown. */
  dropped: number;
}

/** A truncated rendering and where it cut. */
export interface Truncated extends CutPlan {
  text: string;
}

// Each of the marker line's two newlines is written `\n` in JSON.
const ESCAPED_NEWLINE = 2;

/**
 * One stream and its renderings: whole, or cut to about `kept` raw bytes — head two thirds, tail
 * one third (never shorter than the notes), cuts moved inwards to UTF-8 character boundaries, one
 * marker between. Sizes are computed from the raw bytes; text is made only for the rendering used.
 */
export class StreamText {
  readonly #src: StreamSource;
  readonly #prefix: Buffer;
  readonly #suffix: Buffer;
  readonly #raw: number;
  #whole: string | undefined;
  #wholeCost: number | undefined;

  constructor(
    src: StreamSource,
    readonly stream: StreamName,
  ) {
    this.#src = src;
    if (src.dropped === 0) {
      const all = src.tail.length === 0 ? src.head : Buffer.concat([src.head, src.tail]);
      this.#prefix = all;
      this.#suffix = all;
    } else {
      this.#prefix = src.head;
      this.#suffix = src.tail;
    }
    this.#raw = rawLength(src);
  }

  /** The whole captured text. */
  get whole(): string {
    this.#whole ??= renderWhole(this.#src, this.stream);
    return this.#whole;
  }

  /** JSON size of the whole text (quotes excluded). */
  get wholeCost(): number {
    if (this.#wholeCost === undefined) {
      const s = this.#src;
      this.#wholeCost =
        s.dropped === 0
          ? jsonTextCost(this.#prefix)
          : this.#markedCost(s.head, s.head.length, s.dropped, s.tail, 0);
    }
    return this.#wholeCost;
  }

  /** The largest `kept` that still drops something. */
  get maxKept(): number {
    return this.#src.dropped === 0
      ? Math.max(0, this.#raw - 1)
      : this.#prefix.length + this.#suffix.length;
  }

  cut(kept: number): Truncated {
    const plan = this.#plan(kept);
    return { ...plan, text: this.#render(plan) };
  }

  /** Last resort: the marker line alone (notes too are gone). */
  markerOnly(): string {
    return `${droppedMarker(this.#raw - this.#src.keep, this.stream)}\n`;
  }

  /**
   * The longest rendering whose JSON string content is at most `alloc` bytes: whole if it fits,
   * else cut, shrinking by the overshoot until it fits; then head-less (marker and notes); then
   * the marker alone, which is returned even when it does not fit.
   */
  fitTo(alloc: number): string {
    if (this.wholeCost <= alloc) return this.whole;
    const markerSize = droppedMarker(this.#raw, this.stream).length + 2 * ESCAPED_NEWLINE;
    let kept = clamp(alloc - markerSize, 0, this.maxKept);
    // Shrink by the overshoot until it fits; escapes make JSON longer than the raw bytes, so the
    // first fit may leave room, which bisecting between the last fit and the last miss takes back.
    let fit: CutPlan | undefined;
    let fitKept = 0;
    let miss: number | undefined;
    for (let round = 0; round < MAX_SHRINK_ROUNDS; round++) {
      const plan = this.#plan(kept);
      const over = this.#cost(plan) - alloc;
      if (over <= 0) {
        fit = plan;
        fitKept = kept;
        if (miss === undefined || miss - kept <= 1 || over > -MAX_CUT_MOVE) break;
        kept = Math.floor((kept + miss) / 2);
        continue;
      }
      miss = kept;
      if (kept === 0) break;
      kept = fit ? Math.floor((fitKept + miss) / 2) : Math.max(0, kept - over);
    }
    return fit ? this.#render(fit) : this.markerOnly();
  }

  #plan(kept: number): CutPlan {
    const same = this.#src.dropped === 0;
    const k = clamp(Math.floor(kept), 0, this.maxKept);
    let tail = Math.max(k - Math.floor((2 * k) / 3), this.#src.keep);
    let head = Math.max(0, k - tail);
    if (head > this.#prefix.length) {
      tail += head - this.#prefix.length;
      head = this.#prefix.length;
    }
    if (tail > this.#suffix.length) {
      head = Math.min(this.#prefix.length, head + tail - this.#suffix.length);
      tail = this.#suffix.length;
    }
    if (same && head + tail > this.#raw) head = this.#raw - tail;

    let headEnd = head;
    for (let i = 0; i < MAX_CUT_MOVE && headEnd > 0 && isContinuation(this.#prefix[headEnd]); i++) {
      headEnd--;
    }
    let tailStart = this.#suffix.length - tail;
    for (let i = 0; i < MAX_CUT_MOVE && isContinuation(this.#suffix[tailStart]); i++) {
      tailStart++;
    }
    const tailBytes = this.#suffix.length - tailStart;
    return { headBytes: headEnd, tailBytes, dropped: this.#raw - headEnd - tailBytes };
  }

  #cost(plan: CutPlan): number {
    const tailStart = this.#suffix.length - plan.tailBytes;
    return this.#markedCost(this.#prefix, plan.headBytes, plan.dropped, this.#suffix, tailStart);
  }

  /** JSON size of `head[0, headEnd)`, the marker line for `n`, and `tail[tailStart, end)`. */
  #markedCost(head: Buffer, headEnd: number, n: number, tail: Buffer, tailStart: number): number {
    const gap = headEnd > 0 && head[headEnd - 1] !== NEWLINE ? ESCAPED_NEWLINE : 0;
    return (
      jsonTextCost(head, 0, headEnd) +
      gap +
      droppedMarker(n, this.stream).length +
      ESCAPED_NEWLINE +
      jsonTextCost(tail, tailStart)
    );
  }

  #render(plan: CutPlan): string {
    const tailStart = this.#suffix.length - plan.tailBytes;
    return withMarker(
      this.#prefix.subarray(0, plan.headBytes),
      plan.dropped,
      this.stream,
      this.#suffix.subarray(tailStart),
    );
  }
}

/** The published JSON bytes of a result. */
export const serializeResult = (r: ExecResult): Buffer =>
  Buffer.from(JSON.stringify(encodeExecResult(r)), "utf8");

export interface FitOptions {
  /**
   * Stores a stream's whole text in `result_output`; resolves false when that did not work (the
   * stream is then truncated instead). Absent when the store does not exist. May throw to end the
   * attempt (e.g. the connection is gone).
   */
  upload?: (key: string, data: Buffer, stream: StreamName) => Promise<boolean>;
}

export interface FitOutcome {
  /** The result as sent. */
  result: ExecResult;
  /** Its JSON bytes. */
  payload: Buffer;
  /** False only when not even the markers fit (ids and fields alone exceed the budget). */
  fits: boolean;
  uploaded: StreamName[];
  truncated: StreamName[];
}

const STREAMS: readonly StreamName[] = ["stdout", "stderr"];
const OBJECT_MEMBER = { stdout: "stdoutObject", stderr: "stderrObject" } as const;

/**
 * Makes `result` fit in `budget` JSON bytes (behavior.md 8.5, wire §4.5): whole; else whole
 * streams uploaded, largest first, until it fits; else truncated. `sources` give the raw streams;
 * the result's own `stdout`/`stderr` are replaced by their renderings.
 */
export async function fitExecResult(
  result: ExecResult,
  sources: StreamSources,
  budget: number,
  opts: FitOptions = {},
): Promise<FitOutcome> {
  const texts: Record<StreamName, StreamText> = {
    stdout: new StreamText(sources.stdout, "stdout"),
    stderr: new StreamText(sources.stderr, "stderr"),
  };
  let current: ExecResult = { ...result, stdout: "", stderr: "" };
  const uploaded: StreamName[] = [];
  // Everything but the two texts, which add exactly their JSON cost.
  let fixed = serializeResult(current).length;
  const inlineCost = () =>
    STREAMS.reduce((sum, s) => sum + (uploaded.includes(s) ? 0 : texts[s].wholeCost), 0);
  const whole = (): FitOutcome => {
    for (const s of STREAMS)
      if (!uploaded.includes(s)) current = { ...current, [s]: texts[s].whole };
    const payload = serializeResult(current);
    return { result: current, payload, fits: payload.length <= budget, uploaded, truncated: [] };
  };
  if (fixed + inlineCost() <= budget) return whole();

  if (opts.upload) {
    const bySize = STREAMS.filter((s) => texts[s].wholeCost > 0).sort(
      (a, b) => texts[b].wholeCost - texts[a].wholeCost,
    );
    for (const stream of bySize) {
      const key = resultOutputKey(result.requestId, result.pcId, stream);
      if (!(await opts.upload(key, Buffer.from(texts[stream].whole, "utf8"), stream))) continue;
      current = { ...current, [OBJECT_MEMBER[stream]]: key };
      uploaded.push(stream);
      fixed = serializeResult(current).length;
      if (fixed + inlineCost() <= budget) return whole();
    }
  }

  const inline = STREAMS.filter((s) => !uploaded.includes(s));
  const alloc = allocate(
    inline.map((s) => ({ stream: s, need: texts[s].wholeCost })),
    budget - fixed,
  );
  const truncated: StreamName[] = [];
  for (const stream of inline) {
    const t = texts[stream];
    const room = alloc[stream] ?? 0;
    if (t.wholeCost > room) truncated.push(stream);
    current = { ...current, [stream]: t.fitTo(room) };
  }
  const payload = serializeResult(current);
  return { result: current, payload, fits: payload.length <= budget, uploaded, truncated };
}

/**
 * Splits `room` bytes between the streams (wire §4.5): the smaller stays whole if it needs at most
 * half, the larger gets the rest; otherwise each gets half.
 */
function allocate(
  needs: readonly { stream: StreamName; need: number }[],
  room: number,
): Partial<Record<StreamName, number>> {
  const out: Partial<Record<StreamName, number>> = {};
  const usable = Math.max(0, room);
  const [a, b] = needs;
  if (a === undefined) return out;
  if (b === undefined) {
    out[a.stream] = usable;
    return out;
  }
  const [small, large] = a.need <= b.need ? [a, b] : [b, a];
  const half = Math.floor(usable / 2);
  if (small.need <= half) {
    out[small.stream] = small.need;
    out[large.stream] = usable - small.need;
  } else {
    out[small.stream] = half;
    out[large.stream] = half;
  }
  return out;
}

/** Length of `buf` without a trailing incomplete UTF-8 sequence (at most 3 bytes cut). */
function completeCharsEnd(buf: Buffer): number {
  for (let i = buf.length - 1; i >= Math.max(0, buf.length - MAX_CUT_MOVE); i--) {
    const byte = buf[i]!;
    if (isContinuation(byte)) continue;
    const need = byte >= 0xf0 && byte <= 0xf7 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return i + need > buf.length && byte < 0xf8 ? i : buf.length;
  }
  return buf.length;
}

const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));

/** Re-exported for callers that build sources from a capture. */
export type { CapturedStream, StreamName };
