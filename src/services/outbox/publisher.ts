import { type JetStreamClient, jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { type ObjectStore, Objm } from "@nats-io/obj";
import type { Logger } from "../logging/logger.js";
import { OBJ_RESULT_OUTPUT } from "../nats/subjects.js";
import type { Clock } from "../time/clock.js";
import { NotConnectedError } from "./failures.js";
import { DEFAULT_MAX_PAYLOAD } from "./fit.js";

/** PubAck wait (behavior.md 8.3). */
export const PUBACK_TIMEOUT_MS = 30_000;
/** A missing `result_output` store is looked for again at most this often (behavior.md 8.5). */
export const RESULT_OUTPUT_RECHECK_MS = 60_000;

export interface PubAckInfo {
  stream: string;
  seq: number;
  duplicate: boolean;
}

export interface PublishOptions {
  /** `Nats-Msg-Id`; omitted when absent or empty. */
  msgId?: string;
  timeoutMs?: number;
}

/** Puts whole objects into `result_output`. */
export interface ObjectUploader {
  put(key: string, data: Uint8Array, timeoutMs?: number): Promise<void>;
}

/** What the outbox drain needs from the broker. */
export interface Publisher {
  /** Whether there is a connection to publish on right now. */
  connected(): boolean;
  /** The server's `max_payload`, DEFAULT_MAX_PAYLOAD when unknown. */
  maxPayload(): number;
  /** A JetStream publish that resolves with the PubAck. Throws NotConnectedError when offline. */
  publish(subject: string, data: Uint8Array, opts?: PublishOptions): Promise<PubAckInfo>;
  /** The `result_output` uploader, or null when that store does not exist. */
  resultOutput(): Promise<ObjectUploader | null>;
  /** The store seemed to vanish (an upload found nobody): look again after the re-check delay. */
  forgetResultOutput(): void;
}

/** The current connection; `NatsLink` satisfies it. */
export interface ConnectionSource {
  readonly connection: NatsConnection | null;
  readonly isConnected: boolean;
}

export interface NatsPublisherOptions {
  link: ConnectionSource;
  clock: Clock;
  log: Logger;
  /** Object store name; OBJ_RESULT_OUTPUT by default. */
  storeName?: string;
  recheckMs?: number;
}

type StoreState =
  | { kind: "unknown" }
  | { kind: "present"; nc: NatsConnection; store: ObjectStore }
  | { kind: "missing"; nc: NatsConnection; checkedAt: number };

/** `Publisher` over nats.js: JetStream publishes and `result_output` puts on the live connection. */
export class NatsPublisher implements Publisher {
  readonly #link: ConnectionSource;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #storeName: string;
  readonly #recheckMs: number;
  #js: { nc: NatsConnection; js: JetStreamClient } | undefined;
  #store: StoreState = { kind: "unknown" };

  constructor(opts: NatsPublisherOptions) {
    this.#link = opts.link;
    this.#clock = opts.clock;
    this.#log = opts.log;
    this.#storeName = opts.storeName ?? OBJ_RESULT_OUTPUT;
    this.#recheckMs = opts.recheckMs ?? RESULT_OUTPUT_RECHECK_MS;
  }

  connected(): boolean {
    const nc = this.#link.connection;
    return nc !== null && this.#link.isConnected && !nc.isClosed();
  }

  maxPayload(): number {
    const max = this.#link.connection?.info?.max_payload;
    return typeof max === "number" && max > 0 ? max : DEFAULT_MAX_PAYLOAD;
  }

  async publish(subject: string, data: Uint8Array, opts: PublishOptions = {}): Promise<PubAckInfo> {
    const js = this.#jetstream();
    const ack = await js.publish(subject, data, {
      ...(opts.msgId ? { msgID: opts.msgId } : {}),
      timeout: opts.timeoutMs ?? PUBACK_TIMEOUT_MS,
    });
    return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
  }

  async resultOutput(): Promise<ObjectUploader | null> {
    const nc = this.#connection();
    const s = this.#store;
    if (s.kind === "present" && s.nc === nc) return uploader(s.store);
    if (
      s.kind === "missing" &&
      s.nc === nc &&
      this.#clock.monotonic() - s.checkedAt < this.#recheckMs
    ) {
      return null;
    }
    try {
      const store = await new Objm(nc).open(this.#storeName);
      this.#store = { kind: "present", nc, store };
      this.#log.info({ store: this.#storeName }, "object store found: large outputs are uploaded");
      return uploader(store);
    } catch (err) {
      if (!(err instanceof Error) || !/not found/i.test(err.message)) throw err;
      if (this.#store.kind !== "missing") {
        this.#log.info(
          { store: this.#storeName },
          "object store missing: large outputs are truncated",
        );
      }
      this.#store = { kind: "missing", nc, checkedAt: this.#clock.monotonic() };
      return null;
    }
  }

  forgetResultOutput(): void {
    const nc = this.#link.connection;
    this.#store = nc
      ? { kind: "missing", nc, checkedAt: this.#clock.monotonic() }
      : { kind: "unknown" };
  }

  #connection(): NatsConnection {
    const nc = this.#link.connection;
    if (!nc || !this.connected()) throw new NotConnectedError();
    return nc;
  }

  #jetstream(): JetStreamClient {
    const nc = this.#connection();
    if (this.#js?.nc !== nc) this.#js = { nc, js: jetstream(nc) };
    return this.#js.js;
  }
}

function uploader(store: ObjectStore): ObjectUploader {
  return {
    async put(key, data, timeoutMs = PUBACK_TIMEOUT_MS) {
      await store.putBlob({ name: key }, data, { timeout: timeoutMs });
    },
  };
}
