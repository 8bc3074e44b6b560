import { existsSync, readdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type JetStreamManager, jetstreamManager, type StoredMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { Objm } from "@nats-io/obj";
import { connect } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import { renderCaptured, StreamCapture } from "../../../src/services/exec/capture.js";
import { createLogger, type Logger } from "../../../src/services/logging/logger.js";
import { watchConnection } from "../../../src/services/nats/connection.js";
import { NatsLink } from "../../../src/services/nats/link.js";
import { type FileBackoff, OutboxDrainer } from "../../../src/services/outbox/drainer.js";
import { startDrainLoop } from "../../../src/services/outbox/drainLoop.js";
import { NatsPublisher } from "../../../src/services/outbox/publisher.js";
import { OutboxStore } from "../../../src/services/outbox/store.js";
import { writeResult, writeStartedEvent } from "../../../src/services/outbox/write.js";
import { systemClock } from "../../../src/services/time/clock.js";
import { encodeEventStarted } from "../../../src/services/wire/eventStarted.js";
import { encodeExecResult } from "../../../src/services/wire/execResult.js";
import type { EventStarted, ExecResult } from "../../../src/services/wire/types.js";
import { NatsServer } from "../../helpers/natsServer.js";
import { tempDir } from "../../helpers/tmp.js";
import { waitFor } from "../../helpers/waitFor.js";

type Line = Record<string, unknown> & { msg: string; level: string };

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

let counter = 0;
/** A fresh UUID-shaped id, distinct per call. */
function uuid(): string {
  counter++;
  const hex = `${process.pid.toString(16)}${counter.toString(16)}`.padStart(12, "0").slice(-12);
  return `0b7e4a6c-1d2f-4a3b-8c9d-${hex}`;
}

function result(overrides: Partial<ExecResult> = {}): ExecResult {
  return {
    resultId: uuid(),
    requestId: uuid(),
    execId: uuid(),
    pcId: "PC1234",
    exitCode: 0,
    stdout: "hello\n",
    stderr: "",
    startedAt: Date.UTC(2026, 4, 16, 0, 0, 0, 123),
    finishedAt: Date.UTC(2026, 4, 16, 0, 0, 5, 654),
    manifestId: "inventory-hw",
    ...overrides,
  };
}

function started(r: ExecResult): EventStarted {
  return {
    resultId: r.resultId,
    requestId: r.requestId,
    execId: r.execId!,
    pcId: r.pcId,
    startedAt: r.startedAt,
    manifestId: r.manifestId!,
    version: "0.1.0",
  };
}

interface Env {
  server: NatsServer;
  nc: NatsConnection;
  link: NatsLink;
  admin: NatsConnection;
  jsm: JetStreamManager;
  results: OutboxStore;
  events: OutboxStore;
  publisher: NatsPublisher;
  drainer: OutboxDrainer;
  published: { kind: string; resultId: string; fileExisted: boolean }[];
  lines: Line[];
  log: Logger;
}

interface EnvOptions {
  streams?: boolean;
  config?: string;
  backoff?: Partial<FileBackoff>;
  ackTimeoutMs?: number;
}

async function setup(opts: EnvOptions = {}): Promise<Env> {
  const server = await NatsServer.start(opts.config ? { config: opts.config } : {});
  cleanups.push(() => server.stop());
  const lines: Line[] = [];
  const log = createLogger({
    level: "debug",
    destination: { write: (s: string) => void lines.push(JSON.parse(s) as Line) },
  });
  const nc = await connect({
    servers: server.url,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
  });
  const link = new NatsLink();
  link.attach(nc);
  const unwatch = watchConnection(nc, (e) => {
    if (e.type === "DISCONNECTED") link.setUp(false);
    if (e.type === "RECONNECTED") link.setUp(true);
  });
  cleanups.push(async () => {
    unwatch();
    await nc.close();
  });
  const admin = await connect({
    servers: server.url,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
  });
  cleanups.push(() => admin.close());
  const jsm = await jetstreamManager(admin);
  if (opts.streams ?? true) await addStreams(jsm);

  const dir = tempDir("kanade-outbox-");
  const results = await OutboxStore.open(join(dir, "outbox"), { log });
  const events = await OutboxStore.open(join(dir, "events-outbox"), { log });
  const publisher = new NatsPublisher({ link, clock: systemClock, log });
  const published: Env["published"] = [];
  const drainer = new OutboxDrainer({
    events,
    results,
    publisher,
    clock: systemClock,
    log,
    backoff: opts.backoff,
    ackTimeoutMs: opts.ackTimeoutMs ?? 5_000,
    onPublished: (kind, payload) => {
      const store = kind === "result" ? results : events;
      const fileExisted = existsSync(join(store.dir, `${payload.resultId}.json`));
      published.push({ kind, resultId: payload.resultId, fileExisted });
    },
  });
  return {
    server,
    nc,
    link,
    admin,
    jsm,
    results,
    events,
    publisher,
    drainer,
    published,
    lines,
    log,
  };
}

async function addStreams(jsm: JetStreamManager, resultsConfig: Record<string, unknown> = {}) {
  await jsm.streams.add({ name: "RESULTS", subjects: ["results.>"], ...resultsConfig });
  await jsm.streams.add({ name: "EVENTS", subjects: ["events.>"] });
}

async function messages(jsm: JetStreamManager, stream: string): Promise<StoredMsg[]> {
  const info = await jsm.streams.info(stream);
  const out: StoredMsg[] = [];
  for (
    let seq = info.state.first_seq;
    seq <= info.state.last_seq && info.state.messages > 0;
    seq++
  ) {
    const m = await jsm.streams.getMessage(stream, { seq });
    if (m) out.push(m);
  }
  return out;
}

const body = (m: StoredMsg) =>
  JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown>;
const files = (store: OutboxStore) => readdirSync(store.dir).filter((n) => n.endsWith(".json"));

async function queue(store: OutboxStore, r: ExecResult, mtimeSec?: number): Promise<void> {
  const name = await writeResult(store, r);
  if (mtimeSec !== undefined) utimesSync(join(store.dir, name), mtimeSec, mtimeSec);
}

function bigOutput(bytes: number): StreamCapture {
  const cap = new StreamCapture();
  const line = Buffer.from("0123456789 output line with a ™ and an emoji 😀\n");
  for (let n = 0; n < bytes; n += line.length) cap.push(line);
  return cap;
}

describe("outbox drain against a real broker", () => {
  it("publishes events first, then results oldest first, with Nats-Msg-Id, deleting after the ack", async () => {
    const env = await setup();
    const rs = [result(), result(), result()];
    // Written in one order, aged in another: the drain follows modification time.
    await queue(env.results, rs[0]!, 3_000);
    await queue(env.results, rs[1]!, 1_000);
    await queue(env.results, rs[2]!, 2_000);
    await writeStartedEvent(env.events, started(rs[1]!));

    const report = await env.drainer.runPass();
    expect(report).toMatchObject({ published: 4, stuck: 0, failed: 0 });

    const stored = await messages(env.jsm, "RESULTS");
    expect(stored.map((m) => m.header?.get("Nats-Msg-Id"))).toEqual([
      rs[1]!.resultId,
      rs[2]!.resultId,
      rs[0]!.resultId,
    ]);
    expect(stored.map((m) => m.subject)).toEqual(
      [1, 2, 0].map((i) => `results.${rs[i]!.requestId}`),
    );
    expect(body(stored[0]!)).toEqual(JSON.parse(JSON.stringify(encodeExecResult(rs[1]!))));

    const ev = await messages(env.jsm, "EVENTS");
    expect(ev).toHaveLength(1);
    expect(ev[0]!.subject).toBe(`events.started.${rs[1]!.execId}.PC1234`);
    expect(ev[0]!.header?.get("Nats-Msg-Id")).toBe(rs[1]!.resultId);

    // The hook ran for each file after its ack, while the file still existed.
    expect(env.published.map((p) => p.kind)).toEqual(["event", "result", "result", "result"]);
    expect(env.published.every((p) => p.fileExisted)).toBe(true);
    expect(files(env.results)).toEqual([]);
    expect(files(env.events)).toEqual([]);
  });

  it("publishNow sends a just-written file at once; a pass meanwhile neither repeats nor loses it", async () => {
    const env = await setup();
    const rs = [result(), result(), result()];
    const names = await Promise.all(rs.map((r) => writeResult(env.results, r)));
    // Immediate publishes of every file racing a full pass over the same folder.
    const [, , , report] = await Promise.all([
      ...names.map((n) => env.drainer.publishNow("result", n)),
      env.drainer.runPass(),
    ]);
    expect(report!.failed).toBe(0);
    const stored = await messages(env.jsm, "RESULTS");
    expect(stored.map((m) => m.header?.get("Nats-Msg-Id")).sort()).toEqual(
      rs.map((r) => r.resultId).sort(),
    );
    // Each file went through the after-publish hook exactly once, then was deleted.
    expect(env.published.map((p) => p.resultId).sort()).toEqual(rs.map((r) => r.resultId).sort());
    expect(files(env.results)).toEqual([]);
  });

  it("publishNow leaves a file to the passes while the broker is unreachable", async () => {
    const env = await setup({ streams: false });
    const r = result();
    const name = await writeResult(env.results, r);
    await env.drainer.publishNow("result", name);
    expect(files(env.results)).toEqual([name]);
    expect(env.drainer.failuresOf(env.results, name)).toBe(0); // systemic: not held against it
    await addStreams(env.jsm);
    expect((await env.drainer.runPass()).published).toBe(1);
    expect(files(env.results)).toEqual([]);
  });

  it("publishes a plain file left by the Rust agent without Nats-Msg-Id", async () => {
    const env = await setup();
    const requestId = uuid();
    writeFileSync(
      join(env.results.dir, `${requestId}.json`),
      JSON.stringify({
        request_id: requestId,
        pc_id: "PC1234",
        exit_code: 0,
        stdout: "hello\n",
        stderr: "",
        started_at: "2026-05-16T00:00:00Z",
        finished_at: "2026-05-16T00:00:01.250000Z",
      }),
    );
    await env.drainer.runPass();
    const [m] = await messages(env.jsm, "RESULTS");
    expect(m?.subject).toBe(`results.${requestId}`);
    expect(m?.header?.get("Nats-Msg-Id") ?? "").toBe("");
    expect(body(m!).stdout).toBe("hello\n");
    expect(files(env.results)).toEqual([]);
  });

  it("keeps files while no stream exists, without counting, and publishes once it appears", async () => {
    const env = await setup({ streams: false });
    const r = result();
    await queue(env.results, r);
    await writeStartedEvent(env.events, started(r));
    for (let i = 0; i < 3; i++) {
      const report = await env.drainer.runPass();
      expect(report.ended).toBe("systemic");
      expect(report.published).toBe(0);
    }
    expect(env.drainer.failuresOf(env.events, `${r.resultId}.json`)).toBe(0);
    expect(files(env.events)).toHaveLength(1);
    expect(files(env.results)).toHaveLength(1);

    await addStreams(env.jsm);
    const report = await env.drainer.runPass();
    expect(report).toMatchObject({ published: 2 });
    expect((await messages(env.jsm, "RESULTS")).map((m) => m.header?.get("Nats-Msg-Id"))).toEqual([
      r.resultId,
    ]);
    expect(files(env.results)).toEqual([]);
  });

  it("loses nothing and publishes everything once when the broker is killed and restarted", async () => {
    const env = await setup({ ackTimeoutMs: 2_000 });
    const rs = Array.from({ length: 40 }, () => result());
    for (const r of rs) await queue(env.results, r);

    const loop = startDrainLoop({
      drainer: env.drainer,
      wake$: env.link.woken$,
      clock: systemClock,
      random: () => 0,
      log: env.log,
      intervalMs: 50,
    });
    cleanups.push(() => loop.stop());
    // The loop starts on a connect; the connection is already up, so announce it again.
    env.link.setUp(true);
    await waitFor(() => files(env.results).length < 40, { what: "first publishes" });
    await env.server.stop();
    const offline: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = result();
      rs.push(r);
      offline.push(`${r.resultId}.json`);
      await queue(env.results, r);
    }
    // Written while the broker is down: they wait (a publish acked just before the stop may still
    // be deleting its file, so the others are not counted here).
    expect(files(env.results)).toEqual(expect.arrayContaining(offline));
    await env.server.restart();
    await waitFor(() => files(env.results).length === 0, {
      what: "the outbox to empty after the restart",
      timeoutMs: 20_000,
    });

    // The test's own admin connection reconnects on its own schedule after the restart.
    let stored: StoredMsg[] = [];
    await waitFor(
      async () => {
        stored = await messages(env.jsm, "RESULTS");
        return true;
      },
      { what: "the admin connection to read RESULTS again", timeoutMs: 20_000 },
    );
    const ids = stored.map((m) => m.header?.get("Nats-Msg-Id"));
    expect(ids).toHaveLength(rs.length);
    expect(new Set(ids)).toEqual(new Set(rs.map((r) => r.resultId)));
  });

  it("a republished file is absorbed by the duplicate window", async () => {
    const env = await setup();
    const r = result();
    await queue(env.results, r);
    await env.drainer.runPass();
    await queue(env.results, r);
    const report = await env.drainer.runPass();
    expect(report.published).toBe(1);
    expect(files(env.results)).toEqual([]);
    expect(await messages(env.jsm, "RESULTS")).toHaveLength(1);
  });

  it("moves unparseable files and bad subject tokens to stuck/, saying why", async () => {
    const env = await setup();
    writeFileSync(join(env.results.dir, "garbage.json"), "{not json");
    await queue(env.results, result({ requestId: "has.dot" }));
    const badEvent = started(result());
    await env.events.write(encodeEventStarted({ ...badEvent, execId: "wild*card" }));
    const good = result();
    await queue(env.results, good);

    const report = await env.drainer.runPass();
    expect(report).toMatchObject({ published: 1, stuck: 3 });
    expect(readdirSync(env.results.stuckDir).sort()).toEqual(
      expect.arrayContaining(["garbage.json"]),
    );
    expect(readdirSync(env.results.stuckDir)).toHaveLength(2);
    expect(readdirSync(env.events.stuckDir)).toEqual([`${badEvent.resultId}.json`]);
    const reasons = env.lines.filter((l) => l.msg.includes("stuck/")).map((l) => String(l.reason));
    expect(reasons).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/not valid JSON/),
        expect.stringMatching(/request_id "has\.dot"/),
        expect.stringMatching(/exec_id "wild\*card"/),
      ]),
    );
    expect((await messages(env.jsm, "RESULTS")).map((m) => m.header?.get("Nats-Msg-Id"))).toEqual([
      good.resultId,
    ]);
  });

  it("uploads a 3 MiB stdout to result_output and names the object", async () => {
    const env = await setup();
    await new Objm(env.admin).create("result_output");
    const out = bigOutput(3 * 1024 * 1024).result();
    const r = result();
    await writeResult(env.results, r, { stdout: out, stderr: new StreamCapture().result() });

    expect(await env.drainer.runPass()).toMatchObject({ published: 1 });
    const [m] = await messages(env.jsm, "RESULTS");
    const key = `${r.requestId}/PC1234/stdout`;
    expect(body(m!)).toMatchObject({ stdout: "", stdout_object: key, result_id: r.resultId });
    const os = await new Objm(env.admin).open("result_output");
    const blob = await os.getBlob(key);
    expect(Buffer.from(blob!).toString("utf8")).toBe(renderCaptured(out, "stdout"));
  });

  it("truncates a 3 MiB stdout under max_payload when result_output is missing", async () => {
    const env = await setup();
    const out = bigOutput(3 * 1024 * 1024).result();
    const r = result();
    await writeResult(env.results, r, { stdout: out, stderr: new StreamCapture().result() });

    expect(await env.drainer.runPass()).toMatchObject({ published: 1 });
    const [m] = await messages(env.jsm, "RESULTS");
    expect(m!.data.length).toBeLessThanOrEqual(env.nc.info!.max_payload - 1024);
    expect(m!.data.length).toBeGreaterThan(env.nc.info!.max_payload - 1024 - 64);
    const stdout = body(m!).stdout as string;
    expect(stdout).toMatch(/\n\[kanade-agent: \d+ bytes of stdout dropped\]\n/);
    expect(body(m!).stdout_object).toBeUndefined();
  });

  it("truncates when result_output refuses the upload", async () => {
    const env = await setup();
    await new Objm(env.admin).create("result_output", { max_bytes: 512 * 1024 });
    const r = result();
    await writeResult(env.results, r, {
      stdout: bigOutput(3 * 1024 * 1024).result(),
      stderr: new StreamCapture().result(),
    });

    expect(await env.drainer.runPass()).toMatchObject({ published: 1 });
    const [m] = await messages(env.jsm, "RESULTS");
    expect(body(m!).stdout_object).toBeUndefined();
    expect(body(m!).stdout as string).toMatch(/\[kanade-agent: \d+ bytes of stdout dropped\]/);
    expect(env.lines.some((l) => l.msg.includes("upload refused"))).toBe(true);
  });

  it("looks for a missing result_output again only after the re-check delay", async () => {
    const env = await setup();
    // The publisher's clock is driven by hand: time passes only when the test says so.
    let now = 0;
    const clock = { now: () => Date.now(), monotonic: () => now };
    const publisher = new NatsPublisher({ link: env.link, clock, log: env.log });
    const drainer = new OutboxDrainer({
      events: env.events,
      results: env.results,
      publisher,
      clock: systemClock,
      log: env.log,
    });
    const publishBig = async () => {
      await writeResult(env.results, result(), {
        stdout: bigOutput(2 * 1024 * 1024).result(),
        stderr: new StreamCapture().result(),
      });
      expect(await drainer.runPass()).toMatchObject({ published: 1 });
      const all = await messages(env.jsm, "RESULTS");
      return body(all[all.length - 1]!).stdout_object;
    };

    expect(await publishBig()).toBeUndefined();
    await new Objm(env.admin).create("result_output");
    now += 59_000;
    // Remembered as missing for 60 s: still truncated although the store exists now.
    expect(await publishBig()).toBeUndefined();
    now += 1_000;
    expect(await publishBig()).toMatch(/\/PC1234\/stdout$/);
  });

  it("truncates under a small max_payload announced by the server", async () => {
    const env = await setup({ config: "max_payload: 65536\n" });
    expect(env.nc.info?.max_payload).toBe(65_536);
    const r = result();
    await writeResult(env.results, r, {
      stdout: bigOutput(300_000).result(),
      stderr: bigOutput(100_000).result(),
      notes: ["timeout after 60s"],
    });

    expect(await env.drainer.runPass()).toMatchObject({ published: 1 });
    const [m] = await messages(env.jsm, "RESULTS");
    expect(m!.data.length).toBeLessThanOrEqual(65_536 - 1024);
    expect(body(m!).stderr as string).toMatch(/dropped\]\n[\s\S]*\ntimeout after 60s$/);
  });

  it("publishResult: a complete result's bytes go out unchanged with Nats-Msg-Id; an oversized one is fitted", async () => {
    const env = await setup({ config: "max_payload: 65536\n" });
    const r = result();
    const raw = Buffer.from(JSON.stringify(encodeExecResult(r)));
    expect(await env.drainer.publishResult(raw, r)).toBe(true);
    const [m] = await messages(env.jsm, "RESULTS");
    expect(Buffer.from(m!.data).equals(raw)).toBe(true);
    expect(m!.header?.get("Nats-Msg-Id")).toBe(r.resultId);
    expect(m!.subject).toBe(`results.${r.requestId}`);

    // Over max_payload − 1024 even though "complete": parsed and cut like any result.
    const big = result({ stdout: "x".repeat(70_000) });
    const bigRaw = Buffer.from(JSON.stringify(encodeExecResult(big)));
    expect(await env.drainer.publishResult(bigRaw, big)).toBe(true);
    const stored = await messages(env.jsm, "RESULTS");
    expect(stored).toHaveLength(2);
    expect(stored[1]!.data.length).toBeLessThanOrEqual(65_536 - 1024);
    expect(body(stored[1]!).stdout as string).toMatch(/bytes of stdout dropped/);
  });

  it("counts messages the server rejects, backs off, and moves the file to stuck/ after 10", async () => {
    const env = await setup({ streams: false, backoff: { baseMs: 1, capMs: 4 } });
    await addStreams(env.jsm, { max_msg_size: 200 });
    const r = result({ stdout: "x".repeat(2_000) });
    await queue(env.results, r);
    const name = `${r.resultId}.json`;

    // Each attempt is refused by the stream; the count climbs until the file is set aside.
    const counts: number[] = [];
    for (let pass = 0; pass < 40 && !existsSync(join(env.results.stuckDir, name)); pass++) {
      const report = await env.drainer.runPass();
      expect(report.ended).toBeUndefined();
      if (report.failed > 0) counts.push(env.drainer.failuresOf(env.results, name));
      await new Promise((res) => setTimeout(res, 5));
    }
    expect(counts).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 0]);
    expect(existsSync(join(env.results.stuckDir, `${r.resultId}.json`))).toBe(true);
    const warnings = env.lines.filter((l) => l.msg.includes("not accepted by the broker"));
    expect(warnings.map((l) => l.failures)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const stuckLine = env.lines.find((l) => l.msg.includes("stuck/"));
    expect(String(stuckLine?.reason)).toMatch(/10 consecutive publish failures; last: .*maximum/i);
    expect(await messages(env.jsm, "RESULTS")).toHaveLength(0);
  });

  it("delays a file after a counted failure without holding up the others", async () => {
    const env = await setup({ streams: false });
    await addStreams(env.jsm, { max_msg_size: 600 });
    const big = result({ stdout: "x".repeat(2_000) });
    await queue(env.results, big, 1_000);
    const first = await env.drainer.runPass();
    expect(first).toMatchObject({ failed: 1, published: 0 });
    const ok = result({ stdout: "" });
    await queue(env.results, ok, 2_000);
    const second = await env.drainer.runPass();
    expect(second).toMatchObject({ delayed: 1, published: 1, failed: 0 });
    expect(files(env.results)).toEqual([`${big.resultId}.json`]);
  });

  it("keeps the file when the after-publish hook fails", async () => {
    const env = await setup();
    const drainer = new OutboxDrainer({
      events: env.events,
      results: env.results,
      publisher: env.publisher,
      clock: systemClock,
      log: env.log,
      onPublished: () => {
        throw new Error("ledger not writable");
      },
    });
    const r = result();
    await queue(env.results, r);
    expect(await drainer.runPass()).toMatchObject({ failed: 1 });
    expect(files(env.results)).toEqual([`${r.resultId}.json`]);
    expect(drainer.failuresOf(env.results, `${r.resultId}.json`)).toBe(1);
  });

  it("stops at the deadline without starting another file", async () => {
    const env = await setup();
    await queue(env.results, result());
    const report = await env.drainer.runPass({ deadline: systemClock.monotonic() });
    expect(report).toMatchObject({ ended: "deadline", published: 0 });
    expect(files(env.results)).toHaveLength(1);
  });
});
