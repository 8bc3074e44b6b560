import type { Msg, MsgHdrs, NatsConnection, Subscription } from "@nats-io/nats-core";

export interface WaitOptions {
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
  /** Poll period for `waitFor` (default 25 ms). */
  intervalMs?: number;
  /** What is awaited, for the error message: "agent to reconnect". */
  what?: string;
}

/**
 * Polls `cond` until it returns true. Rejects after `timeoutMs` naming `what` and the last error
 * `cond` threw, if any (a throwing condition counts as "not yet").
 */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  opts: WaitOptions = {},
): Promise<void> {
  const { timeoutMs = 10_000, intervalMs = 25, what = "condition" } = opts;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await cond()) return;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const cause = lastError === undefined ? "" : ` (last error: ${String(lastError)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
    }
    await sleep(intervalMs);
  }
}

/** Resolves with `promise`, or rejects after `timeoutMs` naming `what`. */
export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// A subscription allows one iterator only; a timed-out `next()` stays pending and must be reused by
// the following call, or the message it eventually receives would be lost.
interface SubReader {
  it: AsyncIterator<Msg>;
  pending: Promise<IteratorResult<Msg>> | undefined;
}
const readers = new WeakMap<Subscription, SubReader>();

/**
 * The next message of an iterator-style subscription (one created without a callback). Rejects
 * after `timeoutMs`, or when the subscription ends first.
 */
export async function nextMessage(
  sub: Subscription,
  timeoutMs = 10_000,
  what = `a message on ${sub.getSubject()}`,
): Promise<Msg> {
  let reader = readers.get(sub);
  if (reader === undefined) {
    reader = { it: sub[Symbol.asyncIterator](), pending: undefined };
    readers.set(sub, reader);
  }
  const r = reader;
  if (r.pending === undefined) {
    r.pending = r.it.next().finally(() => {
      r.pending = undefined;
    });
  }
  const result = await withTimeout(r.pending, timeoutMs, what);
  if (result.done) throw new Error(`subscription ended while waiting for ${what}`);
  return result.value;
}

export interface Collected<T = unknown> {
  subject: string;
  /** JSON-decoded payload; the raw text when the payload is not JSON. */
  data: T;
  raw: Uint8Array;
  headers: MsgHdrs | undefined;
  /** Date.now() when the message arrived. */
  receivedAt: number;
}

export interface Collector<T = unknown> {
  readonly sub: Subscription;
  /** Messages in arrival order (at most `max`, oldest dropped beyond that). */
  readonly messages: readonly Collected<T>[];
  /** Resolves once at least `n` messages are held (counting from the last `clear()`). */
  waitForCount(n: number, opts?: WaitOptions): Promise<Collected<T>[]>;
  /** Resolves with the first held message (present or future) that satisfies `pred`. */
  waitForMatch(pred: (m: Collected<T>) => boolean, opts?: WaitOptions): Promise<Collected<T>>;
  clear(): void;
  stop(): void;
}

/**
 * Subscribes to `subject` and keeps every message, decoded, for assertions. Call `nc.flush()`
 * afterwards if the test publishes right away and the subscription must be in place on the server.
 */
export function collect<T = unknown>(
  nc: NatsConnection,
  subject: string,
  opts: { max?: number } = {},
): Collector<T> {
  const max = opts.max ?? 10_000;
  let messages: Collected<T>[] = [];
  const waiters = new Set<() => void>();
  const sub = nc.subscribe(subject, {
    callback: (err, msg) => {
      if (err) return;
      messages.push({
        subject: msg.subject,
        data: decode(msg.data) as T,
        raw: msg.data,
        headers: msg.headers,
        receivedAt: Date.now(),
      });
      if (messages.length > max) messages.splice(0, messages.length - max);
      for (const wake of waiters) wake();
    },
  });

  async function waitUntil<R>(
    check: () => R | undefined,
    what: string,
    timeoutMs: number,
  ): Promise<R> {
    const now = check();
    if (now !== undefined) return now;
    let wake: () => void = () => {};
    const found = new Promise<R>((resolve) => {
      wake = () => {
        const r = check();
        if (r !== undefined) resolve(r);
      };
      waiters.add(wake);
    });
    try {
      return await withTimeout(
        found,
        timeoutMs,
        `${what} on ${subject} (have ${messages.length}: ${summary(messages)})`,
      );
    } finally {
      waiters.delete(wake);
    }
  }

  return {
    sub,
    get messages() {
      return messages;
    },
    waitForCount(n, o = {}) {
      return waitUntil(
        () => (messages.length >= n ? messages.slice() : undefined),
        o.what ?? `${n} message(s)`,
        o.timeoutMs ?? 10_000,
      );
    },
    waitForMatch(pred, o = {}) {
      return waitUntil(
        () => messages.find(pred),
        o.what ?? "a matching message",
        o.timeoutMs ?? 10_000,
      );
    },
    clear() {
      messages = [];
    },
    stop() {
      sub.unsubscribe();
    },
  };
}

function decode(data: Uint8Array): unknown {
  const text = new TextDecoder().decode(data);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function summary(messages: readonly Collected<unknown>[]): string {
  const last = messages.slice(-3).map((m) => `${m.subject} ${JSON.stringify(m.data)}`);
  return last.length === 0 ? "none" : `last ${last.join(" | ")}`.slice(0, 600);
}
