import { existsSync, readFileSync } from "node:fs";
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { BehaviorSubject } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import { createActor } from "xstate";
import { dataDirLayout } from "../../../src/services/fs/dataDir.js";
import { createLogger } from "../../../src/services/logging/logger.js";
import { watchConnection } from "../../../src/services/nats/connection.js";
import { NatsLink } from "../../../src/services/nats/link.js";
import { bootstrapKanade } from "../../../src/services/nats/resources.js";
import { systemClock, systemRandom } from "../../../src/services/time/clock.js";
import type { Command } from "../../../src/services/wire/types.js";
import {
  localSchedulerActor,
  localSchedulerInput,
  type ScheduledFireMeta,
} from "../../../src/wiring/localScheduler.js";
import { NatsServer } from "../../helpers/natsServer.js";
import { tempDir } from "../../helpers/tmp.js";
import { waitFor } from "../../helpers/waitFor.js";

type Line = Record<string, unknown> & { msg: string; level: string };

const PC = "pc-sched-1";
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Env {
  server: NatsServer;
  schedules: KV;
  jobs: KV;
}

async function broker(): Promise<Env> {
  const server = await NatsServer.start();
  cleanups.push(() => server.stop());
  const admin = await connect({
    servers: server.url,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
  });
  cleanups.push(() => admin.close());
  await bootstrapKanade(admin);
  const kvm = new Kvm(admin);
  return { server, schedules: await kvm.open("schedules"), jobs: await kvm.open("jobs") };
}

/** A link as the connection machine keeps it; never attached when `server` is null. */
async function agentLink(server: NatsServer | null): Promise<NatsLink> {
  const link = new NatsLink();
  if (server === null) return link;
  const nc: NatsConnection = await connect({
    servers: server.url,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
  });
  link.attach(nc);
  const unwatch = watchConnection(nc, (e) => {
    if (e.type === "DISCONNECTED") link.setUp(false);
    if (e.type === "RECONNECTED") link.setUp(true);
  });
  cleanups.push(async () => {
    unwatch();
    await nc.close();
  });
  return link;
}

interface Call {
  cmd: Command;
  meta: ScheduledFireMeta;
}

/** The scheduler with a fake admission pipeline that records each command and "runs" it. */
function startScheduler(opts: {
  dataDir: string;
  link: NatsLink;
  membership?: BehaviorSubject<readonly string[]>;
}) {
  const calls: Call[] = [];
  const lines: Line[] = [];
  const log = createLogger({
    level: "debug",
    destination: { write: (s: string) => void lines.push(JSON.parse(s) as Line) },
  });
  const ctx = {
    pcId: PC,
    clock: systemClock,
    random: systemRandom,
    link: opts.link,
    log,
    layout: dataDirLayout(opts.dataDir),
    membership$: opts.membership ?? new BehaviorSubject<readonly string[]>([]),
  };
  const logic = localSchedulerActor(ctx, async (cmd, meta) => {
    calls.push({ cmd, meta });
    return { exitCode: 0, finishedAt: Date.now() };
  });
  const actor = createActor(logic, { input: localSchedulerInput(ctx) }).start();
  const stop = () => {
    actor.stop();
  };
  cleanups.push(stop);
  const count = (scheduleId: string) =>
    calls.filter((c) => c.meta.scheduleId === scheduleId).length;
  /** Waits until `scheduleId` fired `n` more times than now. */
  const more = async (scheduleId: string, n: number, timeoutMs = 10_000) => {
    const target = count(scheduleId) + n;
    await waitFor(() => count(scheduleId) >= target, {
      timeoutMs,
      what: `${n} more fire(s) of ${scheduleId}`,
    });
  };
  return { actor, calls, lines, count, more, stop, layout: ctx.layout };
}

const enc = (v: unknown) => JSON.stringify(v);

async function putJob(env: Env, id = "j1", extra: Record<string, unknown> = {}) {
  await env.jobs.put(
    id,
    enc({
      id,
      version: "1.2.3",
      execute: { shell: "sh", script: "echo from schedule", timeout: "45s", ...extra },
      staleness: { mode: "cached" },
    }),
  );
}

async function putSchedule(env: Env, id: string, extra: Record<string, unknown> = {}) {
  const value = enc({
    id,
    cron: "* * * * * *",
    job_id: "j1",
    target: { all: true },
    runs_on: "agent",
    ...extra,
  });
  // Right after a broker restart the test's own client may still be reconnecting, and a put sent
  // then can lose its acknowledgement: try again (a KV put is idempotent here).
  for (let attempt = 1; ; attempt++) {
    try {
      await env.schedules.put(id, value);
      return;
    } catch (err) {
      if (attempt >= 5) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

const fileText = (path: string) => (existsSync(path) ? readFileSync(path, "utf8") : "");

/** `enabled` of a schedule in local_schedules.json, as the file says; undefined when absent. */
function cachedEnabled(path: string, key: string): boolean | undefined {
  const text = fileText(path);
  if (text === "") return undefined;
  const doc = JSON.parse(text) as { schedules: { key: string; value: { enabled: boolean } }[] };
  return doc.schedules.find((e) => e.key === key)?.value.enabled;
}

describe("local scheduler with a real broker (behavior.md §16)", () => {
  it("fires a 1-second cron repeatedly, each time a fresh command built from the job", async () => {
    const env = await broker();
    await putJob(env);
    await putSchedule(env, "every-second", { jitter: "3s" });
    await env.schedules.put(
      "broken-one",
      enc({ id: "broken-one", cron: "* * * * *", job_id: "j1", runs_on: "agent" }),
    );
    await env.schedules.put(
      "backend-one",
      enc({ id: "backend-one", cron: "* * * * * *", job_id: "j1" }),
    );
    const s = startScheduler({ dataDir: tempDir(), link: await agentLink(env.server) });

    await s.more("every-second", 3);
    expect(s.count("backend-one")).toBe(0);
    const [first, second] = s.calls;
    expect(first!.cmd).toMatchObject({
      id: "j1",
      version: "1.2.3",
      shell: "sh",
      script: "echo from schedule",
      timeoutSecs: 45,
      jitterSecs: 3,
      runAs: "system",
      staleness: { mode: "cached" },
    });
    expect(first!.cmd.deadlineAt).toBeUndefined();
    expect(first!.meta).toEqual({ scheduleId: "every-second", jobId: "j1" });
    expect(first!.cmd.requestId).toMatch(UUID_V4);
    expect(first!.cmd.execId).toMatch(UUID_V4);
    expect(second!.cmd.requestId).not.toBe(first!.cmd.requestId);
    expect(s.lines.some((l) => l.level === "warn" && l.msg.includes("broken-one"))).toBe(true);
    await waitFor(() => fileText(s.layout.localSchedules).includes('"every-second"'), {
      what: "local_schedules.json to hold the schedule",
    });
  });

  it("passes a script_object job on with a rejection reason instead of an empty script", async () => {
    const env = await broker();
    await env.jobs.put(
      "j1",
      enc({
        id: "j1",
        version: "2.0.0",
        execute: { shell: "sh", script_object: "scripts/j1.sh" },
        staleness: { mode: "cached" },
      }),
    );
    await putSchedule(env, "obj");
    const s = startScheduler({ dataDir: tempDir(), link: await agentLink(env.server) });
    await s.more("obj", 1);
    expect(s.calls[0]!.meta.rejection).toMatch(/script_object/);
  });

  it("fires once_per_pc once, and not again after a restart on the same data dir", async () => {
    const env = await broker();
    await putJob(env);
    await putSchedule(env, "once", { mode: "once_per_pc" });
    await putSchedule(env, "pulse");
    const dataDir = tempDir();
    const link = await agentLink(env.server);
    const first = startScheduler({ dataDir, link });
    await first.more("once", 1);
    await waitFor(() => fileText(first.layout.localCompletions).includes('"once::j1"'), {
      what: "the completion in local_completions.json",
    });
    await first.more("pulse", 2);
    expect(first.count("once")).toBe(1);
    first.stop();

    const second = startScheduler({ dataDir, link });
    await second.more("pulse", 2);
    expect(second.count("once")).toBe(0);
  });

  it("does not fire a schedule for another group, and follows a membership change", async () => {
    const env = await broker();
    await putJob(env);
    await putSchedule(env, "for-g1", { target: { groups: ["g1"] } });
    await putSchedule(env, "for-g2", { target: { groups: ["g2"] } });
    await putSchedule(env, "for-other-pc", { target: { pcs: ["pc-sched-2"] } });
    const membership = new BehaviorSubject<readonly string[]>(["g1"]);
    const s = startScheduler({ dataDir: tempDir(), link: await agentLink(env.server), membership });
    await s.more("for-g1", 3);
    expect(s.count("for-g2")).toBe(0);
    expect(s.count("for-other-pc")).toBe(0);
    membership.next(["g2"]);
    await s.more("for-g2", 1);
  });

  it("stops a schedule as soon as it is disabled in KV", async () => {
    const env = await broker();
    await putJob(env);
    await putSchedule(env, "victim");
    await putSchedule(env, "pulse");
    const s = startScheduler({ dataDir: tempDir(), link: await agentLink(env.server) });
    await s.more("victim", 2);
    await putSchedule(env, "victim", { enabled: false });
    // The cache is written after the chart applied the change; no fire can start after that.
    await waitFor(() => cachedEnabled(s.layout.localSchedules, "victim") === false, {
      what: "the disabled schedule in local_schedules.json",
    });
    const fired = s.count("victim");
    await s.more("pulse", 3);
    expect(s.count("victim")).toBe(fired);
  });

  it("keeps firing with the broker stopped, and a fresh scheduler fires from the cache file", async () => {
    const env = await broker();
    await putJob(env);
    await putSchedule(env, "offline");
    const dataDir = tempDir();
    const s = startScheduler({ dataDir, link: await agentLink(env.server) });
    await s.more("offline", 2);
    await waitFor(() => fileText(s.layout.localSchedules).includes('"offline"'), {
      what: "local_schedules.json",
    });
    await env.server.stop();
    await s.more("offline", 2);
    s.stop();

    const fresh = startScheduler({ dataDir, link: await agentLink(null) });
    await fresh.more("offline", 2);
  });

  it("reads everything again after the broker restarts and sees later changes", async () => {
    const env = await broker();
    await putJob(env);
    await putSchedule(env, "before");
    const s = startScheduler({ dataDir: tempDir(), link: await agentLink(env.server) });
    await s.more("before", 1);
    await env.server.restart();
    await waitFor(() => s.lines.filter((l) => l.msg === "local schedules synced").length >= 2, {
      what: "a second sync after the restart",
      timeoutMs: 15_000,
    });
    await putSchedule(env, "after");
    await s.more("after", 2);
  });
});
