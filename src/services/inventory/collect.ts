// One inventory collection (behavior.md 14.6): every systeminformation call bounded by its own
// timeout and the whole collection by an overall limit; a call that fails or times out leaves
// its part out and is named in `collection_errors`, and the required legacy members fall back
// to the runtime's own OS information.

import type { Logger } from "../logging/logger.js";
import { errorText } from "../nats/retry.js";
import type { Clock } from "../time/clock.js";
import type { CollectionError, HwInventory } from "../wire/types.js";
import { assembleHwInventory, type RawInventory } from "./assemble.js";
import {
  COLLECTOR_NAMES,
  type CollectorName,
  type Collectors,
  SECTION_OF,
  type ShellSession,
  systeminformationCollectors,
  systeminformationShell,
} from "./collectors.js";
import { nodeRuntimeOs, type RuntimeOs } from "./runtimeOs.js";

/** behavior.md §0: per call / whole collection. */
export const COLLECTOR_TIMEOUT_MS = 30_000;
export const COLLECTION_TIMEOUT_MS = 180_000;
/** Longest error text kept per `collection_errors` entry. */
const MAX_ERROR_CHARS = 300;

export interface InventoryCollectorOptions {
  pcId: string;
  agentVersion: string;
  platform: NodeJS.Platform;
  clock: Clock;
  log: Logger;
  /** Replaces some of the systeminformation calls (tests: one that fails or hangs). */
  collectors?: Partial<Collectors>;
  callTimeoutMs?: number;
  totalTimeoutMs?: number;
  /**
   * Calls run at the same time. 1 (default) keeps the load of an hourly background job low
   * and is what the overall limit of 180 s over 30 s calls is written for.
   */
  concurrency?: number;
  env?: NodeJS.ProcessEnv;
  runtime?: RuntimeOs;
  /** The persistent shell of one collection; by default systeminformation's on Windows only. */
  shell?: ShellSession | null;
}

/** Collects inventories; keep one per process so that a call that never returned is known. */
export class InventoryCollector {
  readonly #opts: InventoryCollectorOptions;
  readonly #collectors: Collectors;
  readonly #shell: ShellSession | null;
  /**
   * Calls that timed out and have not settled since. They are not started again while they
   * hang, so a stuck probe costs one pending call, not one per collection.
   */
  readonly #stuck = new Map<CollectorName, Promise<unknown>>();

  constructor(opts: InventoryCollectorOptions) {
    this.#opts = opts;
    this.#collectors = {
      ...systeminformationCollectors(opts.platform, () => opts.clock.monotonic()),
      ...opts.collectors,
    };
    this.#shell =
      opts.shell !== undefined
        ? opts.shell
        : opts.platform === "win32"
          ? systeminformationShell
          : null;
  }

  async collect(): Promise<HwInventory> {
    const { clock, log } = this.#opts;
    const callTimeout = this.#opts.callTimeoutMs ?? COLLECTOR_TIMEOUT_MS;
    const totalTimeout = this.#opts.totalTimeoutMs ?? COLLECTION_TIMEOUT_MS;
    const deadline = clock.monotonic() + totalTimeout;
    const raw: Record<string, unknown> = {};
    const errors: CollectionError[] = [];
    const fail = (name: CollectorName, error: string) =>
      errors.push({
        section: SECTION_OF[name],
        error: truncate(name === "uuid" ? `uuid: ${error}` : error),
      });

    const queue = [...COLLECTOR_NAMES];
    const worker = async () => {
      for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
        const left = deadline - clock.monotonic();
        if (left <= 0) {
          fail(name, `not run: the collection reached its limit of ${durationText(totalTimeout)}`);
        } else if (this.#stuck.has(name)) {
          fail(name, "not run: the previous call has not returned yet");
        } else {
          try {
            raw[name] = await this.#call(name, Math.ceil(Math.min(callTimeout, left)));
          } catch (err) {
            fail(name, errorText(err));
          }
        }
      }
    };

    this.#startShell();
    try {
      const lanes = Math.max(1, Math.min(this.#opts.concurrency ?? 1, COLLECTOR_NAMES.length));
      await Promise.all(Array.from({ length: lanes }, worker));
    } finally {
      this.#releaseShell();
    }
    if (this.#shell !== null) {
      // Calls still waiting on the released shell can never answer: the next collection's
      // shell may run them again.
      this.#stuck.clear();
    }

    // Stable order, whatever order the lanes finished in.
    const order = (e: CollectionError) =>
      COLLECTOR_NAMES.findIndex((n) => SECTION_OF[n] === e.section);
    errors.sort((a, b) => order(a) - order(b));
    if (errors.length > 0) {
      log.warn({ collection_errors: errors }, "inventory: some parts could not be collected");
    }
    return assembleHwInventory(raw as RawInventory, {
      pcId: this.#opts.pcId,
      agentVersion: this.#opts.agentVersion,
      platform: this.#opts.platform,
      env: this.#opts.env ?? process.env,
      runtime: this.#opts.runtime ?? nodeRuntimeOs,
      collectedAt: clock.now(),
      errors,
    });
  }

  #call(name: CollectorName, timeoutMs: number): Promise<unknown> {
    const call = (async () => this.#collectors[name]())();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#stuck.set(name, call);
        const settled = () => {
          if (this.#stuck.get(name) === call) this.#stuck.delete(name);
        };
        call.then(settled, settled);
        reject(new Error(`timeout after ${durationText(timeoutMs)}`));
      }, timeoutMs);
      call.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err);
        },
      );
    });
  }

  #startShell(): void {
    try {
      this.#shell?.start();
    } catch (err) {
      // Without the persistent shell each call starts its own: slower, still correct.
      this.#opts.log.warn({ err: errorText(err) }, "inventory: persistent PowerShell not started");
    }
  }

  #releaseShell(): void {
    try {
      this.#shell?.release();
    } catch (err) {
      this.#opts.log.warn({ err: errorText(err) }, "inventory: persistent PowerShell not released");
    }
  }
}

/** `30s` as in the spec's examples; sub-second and odd values in milliseconds. */
function durationText(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

function truncate(text: string): string {
  return text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS)}…` : text;
}
