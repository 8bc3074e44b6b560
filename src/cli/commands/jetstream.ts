// `kanade jetstream setup|status`: create the kanade resource set, and show what is there.
import { type ConsumerInfo, jetstreamManager, type StreamInfo } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { Objm } from "@nats-io/obj";
import type { Command } from "commander";
import {
  bootstrapKanade,
  KANADE_KV_BUCKETS,
  KANADE_OBJECT_STORES,
  KANADE_STREAMS,
} from "../../services/nats/resources.js";
import { STREAM_EXEC } from "../../services/nats/subjects.js";
import { formatTimestamp, parseTimestamp } from "../../services/wire/index.js";
import type { CliContext, Runner } from "../context.js";
import { doing, EXIT } from "../errors.js";
import { withProgress } from "../format/progress.js";
import { renderTable } from "../format/table.js";
import { formatBytes } from "../format/units.js";

const KV_PREFIX = "KV_";
const OBJ_PREFIX = "OBJ_";

export function registerJetstream(program: Command, run: Runner): void {
  const js = program
    .command("jetstream")
    .description("create or inspect the kanade streams, KV buckets and object stores");

  js.command("setup")
    .description(
      "create every missing stream, KV bucket and object store (idempotent; existing ones are left as they are)",
    )
    .option("--no-result-output", "leave out the result_output store (the kanade 0.40 set)")
    .action((opts: { resultOutput: boolean }, cmd: Command) =>
      run(cmd, (ctx) => setup(ctx, opts.resultOutput)),
    );

  js.command("status")
    .description("streams (messages, bytes), KV buckets (keys), object stores, consumers of EXEC")
    .action((_opts: unknown, cmd: Command) => run(cmd, status));
}

async function setup(ctx: CliContext, resultOutput: boolean): Promise<number> {
  const report = await ctx.withNats((nc) =>
    withProgress(ctx.io, "creating resources", () =>
      doing("jetstream setup", () => bootstrapKanade(nc, { resultOutput })),
    ),
  );
  if (ctx.json) {
    ctx.printJson({ created: report.created, existing: report.existing });
  } else {
    for (const what of report.created) ctx.print(`created   ${what}`);
    for (const what of report.existing) ctx.print(`exists    ${what}`);
    ctx.print(
      report.created.length === 0
        ? "nothing to do: every resource was already there"
        : `created ${report.created.length}, already there ${report.existing.length}`,
    );
  }
  return EXIT.ok;
}

interface StreamRow {
  name: string;
  subjects: string[];
  messages: number;
  bytes: number;
}
interface KvRow {
  bucket: string;
  keys: number;
  history: number;
  values: number;
  bytes: number;
}
interface ObjRow {
  store: string;
  objects: number;
  bytes: number;
}
interface ConsumerRow {
  name: string;
  filter_subject: string | null;
  deliver_policy: string;
  num_pending: number;
  num_ack_pending: number;
  num_redelivered: number;
  last_active: string | null;
}
export interface JetstreamStatus {
  streams: StreamRow[];
  kv_buckets: KvRow[];
  object_stores: ObjRow[];
  exec_consumers: ConsumerRow[];
  /** Resources of the kanade set that are not there (`kanade jetstream setup` creates them). */
  missing: string[];
}

async function status(ctx: CliContext): Promise<number> {
  const s = await ctx.withNats((nc) =>
    withProgress(ctx.io, "reading streams, buckets and stores", () =>
      doing("jetstream status", () => collectStatus(nc)),
    ),
  );
  if (ctx.json) {
    ctx.printJson(s);
    return EXIT.ok;
  }
  ctx.print("STREAMS");
  ctx.print(
    renderTable(
      [
        { header: "NAME" },
        { header: "SUBJECTS" },
        { header: "MESSAGES", right: true },
        { header: "BYTES", right: true },
      ],
      s.streams.map((r) => [r.name, r.subjects.join(","), r.messages, formatBytes(r.bytes)]),
    ),
  );
  ctx.print("\nKV BUCKETS");
  ctx.print(
    renderTable(
      [
        { header: "BUCKET" },
        { header: "KEYS", right: true },
        { header: "HISTORY", right: true },
        { header: "VALUES", right: true },
        { header: "BYTES", right: true },
      ],
      s.kv_buckets.map((r) => [r.bucket, r.keys, r.history, r.values, formatBytes(r.bytes)]),
    ),
  );
  ctx.print("\nOBJECT STORES");
  ctx.print(
    renderTable(
      [{ header: "STORE" }, { header: "OBJECTS", right: true }, { header: "BYTES", right: true }],
      s.object_stores.map((r) => [r.store, r.objects, formatBytes(r.bytes)]),
    ),
  );
  ctx.print(`\nCONSUMERS OF ${STREAM_EXEC}`);
  ctx.print(
    s.exec_consumers.length === 0
      ? "(none)\n"
      : renderTable(
          [
            { header: "NAME" },
            { header: "FILTER" },
            { header: "DELIVER" },
            { header: "PENDING", right: true },
            { header: "ACK PENDING", right: true },
            { header: "REDELIVERED", right: true },
            { header: "LAST ACTIVE" },
          ],
          s.exec_consumers.map((c) => [
            c.name,
            c.filter_subject ?? "-",
            c.deliver_policy,
            c.num_pending,
            c.num_ack_pending,
            c.num_redelivered,
            c.last_active ?? "-",
          ]),
        ),
  );
  if (s.missing.length > 0) {
    ctx.print(`missing: ${s.missing.join(", ")} (run \`kanade jetstream setup\`)`);
  }
  return EXIT.ok;
}

export async function collectStatus(nc: NatsConnection): Promise<JetstreamStatus> {
  const jsm = await jetstreamManager(nc);
  const infos: StreamInfo[] = [];
  for await (const si of jsm.streams.list()) infos.push(si);
  infos.sort((a, b) =>
    a.config.name < b.config.name ? -1 : a.config.name > b.config.name ? 1 : 0,
  );

  const streams: StreamRow[] = [];
  const kvBuckets: KvRow[] = [];
  const objectStores: ObjRow[] = [];
  const kvm = new Kvm(nc);
  const objm = new Objm(nc);
  for (const si of infos) {
    const name = si.config.name;
    if (name.startsWith(KV_PREFIX)) {
      const bucket = name.slice(KV_PREFIX.length);
      kvBuckets.push({
        bucket,
        keys: await countKeys(kvm, bucket),
        history: si.config.max_msgs_per_subject,
        values: si.state.messages,
        bytes: si.state.bytes,
      });
    } else if (name.startsWith(OBJ_PREFIX)) {
      const store = name.slice(OBJ_PREFIX.length);
      const os = await objm.open(store);
      const objects = (await os.list()).length;
      objectStores.push({ store, objects, bytes: si.state.bytes });
    } else {
      streams.push({
        name,
        subjects: si.config.subjects ?? [],
        messages: si.state.messages,
        bytes: si.state.bytes,
      });
    }
  }

  const names = new Set(infos.map((si) => si.config.name));
  const consumers: ConsumerRow[] = [];
  if (names.has(STREAM_EXEC)) {
    for await (const ci of jsm.consumers.list(STREAM_EXEC)) consumers.push(consumerRow(ci));
    consumers.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  const missing = [
    ...KANADE_STREAMS.filter((s) => !names.has(s.name)).map((s) => `stream ${s.name}`),
    ...KANADE_KV_BUCKETS.filter((b) => !names.has(`${KV_PREFIX}${b.name}`)).map(
      (b) => `kv ${b.name}`,
    ),
    ...KANADE_OBJECT_STORES.filter((o) => !names.has(`${OBJ_PREFIX}${o.name}`)).map(
      (o) => `object store ${o.name}`,
    ),
  ];
  return {
    streams,
    kv_buckets: kvBuckets,
    object_stores: objectStores,
    exec_consumers: consumers,
    missing,
  };
}

/** Live keys (deleted ones are not counted), read through the bucket's key listing. */
async function countKeys(kvm: Kvm, bucket: string): Promise<number> {
  const kv = await kvm.open(bucket);
  let n = 0;
  for await (const _key of await kv.keys()) n++;
  return n;
}

function consumerRow(ci: ConsumerInfo): ConsumerRow {
  // Typed as nanoseconds, but servers send an RFC 3339 string; absent before the first delivery.
  const lastActive: unknown = ci.delivered.last_active;
  const lastActiveMs =
    typeof lastActive === "string"
      ? parseTimestamp(lastActive)
      : typeof lastActive === "number" && lastActive > 0
        ? Math.floor(lastActive / 1e6)
        : null;
  return {
    name: ci.name,
    filter_subject: ci.config.filter_subject ?? null,
    deliver_policy: ci.config.deliver_policy,
    num_pending: ci.num_pending,
    num_ack_pending: ci.num_ack_pending,
    num_redelivered: ci.num_redelivered,
    last_active: lastActiveMs === null ? null : formatTimestamp(lastActiveMs),
  };
}
