// The JetStream resource set a kanade backend creates at start-up (wire.md §6–§8). The agent never
// creates these; this module backs `kanade jetstream setup`, the dev mode and the tests.

import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  jetstreamManager,
  type StreamConfig,
} from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { type NatsConnection, nanos } from "@nats-io/nats-core";
import { Objm } from "@nats-io/obj";
import {
  KV_AGENT_CONFIG,
  KV_AGENT_GROUPS,
  KV_AGENTS_STATE,
  KV_JOBS,
  KV_JOBS_YAML,
  KV_SCHEDULES,
  KV_SCHEDULES_YAML,
  KV_SCRIPT_CURRENT,
  KV_SCRIPT_STATUS,
  OBJ_AGENT_RELEASES,
  OBJ_RESULT_OUTPUT,
  STREAM_AUDIT,
  STREAM_EVENTS,
  STREAM_EXEC,
  STREAM_INVENTORY,
  STREAM_RESULTS,
  STREAM_SUBJECTS,
  type StreamName,
} from "./subjects.js";

const DAY_MS = 86_400_000;

export interface StreamSpec {
  name: StreamName;
  subjects: string[];
  /** Only what differs from the server defaults (file storage, limits, discard old, R1). */
  config: Partial<StreamConfig>;
}

/** Streams of wire §6; ages are given to JetStream in nanoseconds. */
export const KANADE_STREAMS: readonly StreamSpec[] = [
  {
    name: STREAM_EXEC,
    subjects: [STREAM_SUBJECTS.EXEC],
    config: { max_msgs_per_subject: 1, discard: DiscardPolicy.Old, max_age: nanos(7 * DAY_MS) },
  },
  {
    name: STREAM_RESULTS,
    subjects: [STREAM_SUBJECTS.RESULTS],
    config: { max_age: nanos(30 * DAY_MS) },
  },
  {
    name: STREAM_EVENTS,
    subjects: [STREAM_SUBJECTS.EVENTS],
    config: { max_age: nanos(7 * DAY_MS) },
  },
  {
    name: STREAM_INVENTORY,
    subjects: [STREAM_SUBJECTS.INVENTORY],
    config: { max_age: nanos(90 * DAY_MS) },
  },
  { name: STREAM_AUDIT, subjects: [STREAM_SUBJECTS.AUDIT], config: {} },
];

/** KV buckets of wire §8 with their history depth; every other setting is the library default. */
export const KANADE_KV_BUCKETS: readonly { name: string; history: number }[] = [
  { name: KV_SCRIPT_CURRENT, history: 5 },
  { name: KV_SCRIPT_STATUS, history: 5 },
  { name: KV_AGENTS_STATE, history: 1 },
  { name: KV_AGENT_CONFIG, history: 5 },
  { name: KV_AGENT_GROUPS, history: 5 },
  { name: KV_SCHEDULES, history: 5 },
  { name: KV_JOBS, history: 5 },
  { name: KV_JOBS_YAML, history: 5 },
  { name: KV_SCHEDULES_YAML, history: 5 },
];

/** Object stores of wire §7; `maxAgeMs` 0 = no limit. `result_output` is not in the 0.40 set. */
export const KANADE_OBJECT_STORES: readonly { name: string; maxAgeMs: number; in040: boolean }[] = [
  { name: OBJ_AGENT_RELEASES, maxAgeMs: 0, in040: true },
  { name: OBJ_RESULT_OUTPUT, maxAgeMs: 30 * DAY_MS, in040: false },
];

export interface BootstrapOptions {
  /** Also create `result_output` (the test set, wire §8). Default true; false = the 0.40 set. */
  resultOutput?: boolean;
}

export interface BootstrapReport {
  /** Resources this call created, as `stream EXEC`, `kv agent_config`, `object store …`. */
  created: string[];
  /** Resources that were already there and were left exactly as they were. */
  existing: string[];
}

/**
 * Creates the kanade resource set idempotently: anything missing is created with the configs of
 * wire §6–§8; anything already present is left untouched, even when its config differs (a backend
 * owns its resources; overwriting them could drop data).
 */
export async function bootstrapKanade(
  nc: NatsConnection,
  opts: BootstrapOptions = {},
): Promise<BootstrapReport> {
  const resultOutput = opts.resultOutput ?? true;
  const jsm = await jetstreamManager(nc);
  const report: BootstrapReport = { created: [], existing: [] };
  const note = (created: boolean, what: string) =>
    (created ? report.created : report.existing).push(what);

  for (const s of KANADE_STREAMS) {
    const created = await ensureStream(jsm, {
      ...s.config,
      name: s.name,
      subjects: s.subjects,
    });
    note(created, `stream ${s.name}`);
  }

  const kvm = new Kvm(nc);
  for (const b of KANADE_KV_BUCKETS) {
    const present = await streamExists(jsm, kvStreamName(b.name));
    await withContext(`kv ${b.name}`, () => kvm.create(b.name, { history: b.history }));
    note(!present, `kv ${b.name}`);
  }

  const objm = new Objm(nc);
  for (const o of KANADE_OBJECT_STORES) {
    if (!o.in040 && !resultOutput) continue;
    const present = await streamExists(jsm, objStreamName(o.name));
    await withContext(`object store ${o.name}`, () =>
      objm.create(o.name, o.maxAgeMs > 0 ? { ttl: nanos(o.maxAgeMs) } : {}),
    );
    note(!present, `object store ${o.name}`);
  }
  return report;
}

/** Deletes every stream, bucket and store of the set (tests). Missing ones are skipped. */
export async function deleteKanadeResources(nc: NatsConnection): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const names = [
    ...KANADE_STREAMS.map((s) => s.name),
    ...KANADE_KV_BUCKETS.map((b) => kvStreamName(b.name)),
    ...KANADE_OBJECT_STORES.map((o) => objStreamName(o.name)),
  ];
  for (const name of names) {
    try {
      await jsm.streams.delete(name);
    } catch (err) {
      if (!isStreamNotFound(err)) throw contextError(`delete stream ${name}`, err);
    }
  }
}

/** Stream behind KV bucket `name` (wire §8). */
export const kvStreamName = (bucket: string): string => `KV_${bucket}`;
/** Stream behind object store `name` (wire §8). */
export const objStreamName = (store: string): string => `OBJ_${store}`;

/** True when it created the stream; false when one by that name was already there. */
async function ensureStream(
  jsm: JetStreamManager,
  config: Partial<StreamConfig> & { name: string },
): Promise<boolean> {
  if (await streamExists(jsm, config.name)) return false;
  try {
    await jsm.streams.add(config);
    return true;
  } catch (err) {
    // Another bootstrap may have created it between our check and our add.
    if (await streamExists(jsm, config.name)) return false;
    throw contextError(`create stream ${config.name}`, err);
  }
}

async function streamExists(jsm: JetStreamManager, name: string): Promise<boolean> {
  try {
    await jsm.streams.info(name);
    return true;
  } catch (err) {
    if (isStreamNotFound(err)) return false;
    throw contextError(`stream info ${name}`, err);
  }
}

function isStreamNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound;
}

async function withContext<T>(what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    throw contextError(`create ${what}`, err);
  }
}

function contextError(what: string, err: unknown): Error {
  const message = err instanceof Error ? err.message : String(err);
  return new Error(`${what}: ${message}`, { cause: err });
}
