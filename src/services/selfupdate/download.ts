// behavior.md 15.5: stream `agent_releases/<version>` to `staging/downloads/<version>.part`,
// hashing as it goes, and keep it only when size and SHA-256 match the object's metadata.

import { createHash } from "node:crypto";
import { type FileHandle, mkdir, open, unlink } from "node:fs/promises";
import type { ObjectStore } from "@nats-io/obj";
import type { Logger } from "../logging/logger.js";
import type { Clock } from "../time/clock.js";
import { parseSha256Digest } from "./digest.js";
import { ReleaseRejected } from "./errors.js";
import { downloadPath, type StagingLayout } from "./stagingLayout.js";

/** behavior.md 15.4. */
export const MAX_RELEASE_BYTES = 256 * 1024 * 1024;
const PROGRESS_EVERY_MS = 5_000;
const PROGRESS_STEP_PERCENT = 10;
/** No chunk for this long: the transfer is stuck (a consumer can stall across a reconnect). */
const STALL_MS = 60_000;

export interface DownloadOptions {
  store: Pick<ObjectStore, "info" | "get">;
  staging: StagingLayout;
  version: string;
  log: Logger;
  clock: Clock;
  maxBytes?: number;
  stallMs?: number;
  signal?: AbortSignal;
}

export interface Downloaded {
  path: string;
  bytes: number;
  digest: string;
}

/**
 * Downloads the release object. Throws ReleaseRejected (refuse the target) for a missing or
 * wrong digest, an oversize object or a link; any other error is a transport failure. The
 * `.part` file is deleted on every failure.
 */
export async function downloadRelease(o: DownloadOptions): Promise<Downloaded> {
  const { version, log, clock } = o;
  const maxBytes = o.maxBytes ?? MAX_RELEASE_BYTES;
  const reject = (reason: string) => new ReleaseRejected(version, reason);

  const info = await o.store.info(version);
  if (info === null || info.deleted)
    throw new Error(`release object ${version} not found in the store`);
  if (info.options?.link) throw reject("the release object is a link");
  if (parseSha256Digest(info.digest) === null)
    throw reject(`the release object has no usable SHA-256 digest (${info.digest || "none"})`);
  if (info.size > maxBytes) throw reject(`the release is ${info.size} bytes; limit ${maxBytes}`);

  const result = await o.store.get(version);
  if (result === null) throw new Error(`release object ${version} not found in the store`);
  // Awaited below on success; this keeps an early failure from leaving a rejection unhandled.
  result.error.catch(() => {});
  const reader = result.data.getReader();
  const onAbort = () => void reader.cancel().catch(() => {});
  o.signal?.addEventListener("abort", onAbort, { once: true });
  const path = downloadPath(o.staging, version);
  let fh: FileHandle | undefined;
  let ok = false;
  try {
    // The object may have been replaced since `info`: trust only what `get` is streaming.
    const expected = parseSha256Digest(result.info.digest);
    if (expected === null)
      throw reject(`the release object has no usable SHA-256 digest (${result.info.digest})`);
    const size = result.info.size;
    if (size > maxBytes) throw reject(`the release is ${size} bytes; limit ${maxBytes}`);

    await mkdir(o.staging.downloads, { recursive: true, mode: 0o700 });
    fh = await open(path, "w", 0o600);
    const hash = createHash("sha256");
    let bytes = 0;
    const started = clock.monotonic();
    let lastLogAt = started;
    let lastPercent = 0;
    log.info({ version, size }, "release download started");
    for (;;) {
      const next = await readWithin(reader, o.stallMs ?? STALL_MS, version);
      o.signal?.throwIfAborted();
      if (next.done) break;
      bytes += next.value.length;
      if (bytes > maxBytes) throw reject(`the release is more than ${maxBytes} bytes`);
      if (bytes > size) throw reject(`more bytes arrived than the object's size ${size}`);
      hash.update(next.value);
      await fh.write(next.value);
      const percent = size === 0 ? 100 : Math.floor((bytes * 100) / size);
      const now = clock.monotonic();
      if (percent - lastPercent >= PROGRESS_STEP_PERCENT || now - lastLogAt >= PROGRESS_EVERY_MS) {
        lastPercent = percent;
        lastLogAt = now;
        log.info({ version, bytes, size, percent }, "release download progress");
      }
    }
    const streamError = await result.error.catch((err: unknown) => err);
    if (streamError) throw classify(streamError, reject);
    if (bytes !== size) throw reject(`received ${bytes} bytes; the object's size is ${size}`);
    if (!hash.digest().equals(expected))
      throw reject("SHA-256 of the received bytes differs from the object's digest");
    await fh.sync();
    ok = true;
    log.info(
      { version, bytes, ms: Math.round(clock.monotonic() - started) },
      "release downloaded and verified",
    );
    return { path, bytes, digest: result.info.digest };
  } catch (err) {
    throw classify(err, reject);
  } finally {
    o.signal?.removeEventListener("abort", onAbort);
    if (!ok) void reader.cancel().catch(() => {});
    await fh?.close().catch(() => {});
    if (!ok && fh) await unlink(path).catch(() => {});
  }
}

/** nats.js ends the stream with this error when its own digest check fails. */
function classify(err: unknown, reject: (reason: string) => ReleaseRejected): unknown {
  if (err instanceof ReleaseRejected) return err;
  const text = err instanceof Error ? err.message : String(err);
  if (/digests do not match|corrupt object/i.test(text))
    return reject("SHA-256 of the received bytes differs from the object's digest");
  return err;
}

async function readWithin(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  ms: number,
  version: string,
): Promise<Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>["read"]>>> {
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`release ${version} download stalled: no data for ${ms} ms`)),
      ms,
    );
  });
  try {
    return await Promise.race([reader.read(), stalled]);
  } finally {
    clearTimeout(timer);
  }
}
