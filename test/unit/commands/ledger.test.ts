import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type AdmitInput,
  Ledger,
  type LedgerOptions,
} from "../../../src/services/commands/ledger.js";
import {
  encodeRecord,
  fingerprintOf,
  recordFileName,
} from "../../../src/services/commands/ledgerRecord.js";
import { createLogger, type Logger } from "../../../src/services/logging/logger.js";
import type { Clock } from "../../../src/services/time/clock.js";

const DAY = 24 * 60 * 60 * 1000;
const T0 = Date.UTC(2025, 0, 1);

class ManualClock implements Clock {
  constructor(public t = T0) {}
  now(): number {
    return this.t;
  }
  monotonic(): number {
    return this.t;
  }
}

function captureLogger(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({
    level: "debug",
    destination: { write: (s: string) => lines.push(JSON.parse(s)) },
  });
  return { log, lines };
}

let dir: string;
let clock: ManualClock;
let logs: ReturnType<typeof captureLogger>;
const opened: Ledger[] = [];

beforeEach(async () => {
  const root = await mkdtemp(join(tmpdir(), "ledger-test-"));
  dir = join(root, "ledger");
  clock = new ManualClock();
  logs = captureLogger();
});

afterEach(async () => {
  for (const l of opened.splice(0)) await l.close();
  await rm(join(dir, ".."), { recursive: true, force: true });
});

async function open(extra: Partial<LedgerOptions> = {}): Promise<Ledger> {
  const l = await Ledger.open(dir, { clock, log: logs.log, ...extra });
  opened.push(l);
  return l;
}

const input = (requestId: string, over: Partial<AdmitInput> = {}): AdmitInput => ({
  requestId,
  fingerprint: fingerprintOf(`body of ${requestId}`),
  source: "live",
  subject: "commands.all",
  receivedAt: clock.now(),
  command: { request_id: requestId, script: "echo hi" },
  ...over,
});

async function readRecordFile(requestId: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(join(dir, recordFileName(requestId)), "utf8"));
}

async function recordFiles(): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith(".json")).sort();
}

describe("admission", () => {
  it("admits a new request_id once; a redelivery is a duplicate, a different body a conflict", async () => {
    const ledger = await open();
    expect(await ledger.admit(input("r1"))).toEqual({ outcome: "admitted" });
    expect(await ledger.admit(input("r1", { source: "replay" }))).toEqual({
      outcome: "duplicate",
      conflict: false,
    });
    expect(await ledger.admit(input("r1", { fingerprint: fingerprintOf("another body") }))).toEqual(
      { outcome: "duplicate", conflict: true },
    );
    expect(logs.lines).toContainEqual(
      expect.objectContaining({ level: "warn", msg: "request_id conflict", request_id: "r1" }),
    );
    expect(ledger.size).toBe(1);
  });

  it("writes one snake_case file named by the sha256 of the request_id", async () => {
    const ledger = await open();
    const id = "weird/id:with\\chars";
    await ledger.admit(input(id, { rejection: "shell: unknown value" }));
    expect(await recordFiles()).toEqual([
      `${(await import("node:crypto")).createHash("sha256").update(id).digest("hex")}.json`,
    ]);
    expect(await readRecordFile(id)).toEqual({
      request_id: id,
      fingerprint: fingerprintOf(`body of ${id}`),
      source: "live",
      subject: "commands.all",
      received_at: T0,
      state: "admitted",
      command: { request_id: id, script: "echo hi" },
      rejection: "shell: unknown value",
    });
  });

  it("remembers request_ids across a restart, in every state", async () => {
    let ledger = await open();
    await ledger.admit(input("done"));
    await ledger.markLaunching("done", { resultId: "res-1", startedAt: T0, spawnAt: T0 });
    await ledger.markRunning("done");
    await ledger.markFinished("done", { finishedAt: T0 + 5, exitCode: 0 });
    await ledger.admit(input("waiting"));
    await ledger.close();

    ledger = await open();
    expect(ledger.size).toBe(2);
    expect(await ledger.admit(input("done", { source: "replay" }))).toEqual({
      outcome: "duplicate",
      conflict: false,
    });
    expect(await ledger.admit(input("waiting", { source: "replay" }))).toEqual({
      outcome: "duplicate",
      conflict: false,
    });
    expect(await ledger.admit(input("fresh"))).toEqual({ outcome: "admitted" });
  });

  it("admits exactly one of 1 000 concurrent deliveries of the same request_id", async () => {
    const ledger = await open();
    const outcomes = await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        ledger.admit(input("same", { source: i % 2 ? "replay" : "live" })),
      ),
    );
    expect(outcomes.filter((o) => o.outcome === "admitted")).toHaveLength(1);
    expect(outcomes.filter((o) => o.outcome === "duplicate")).toHaveLength(999);
    expect(await recordFiles()).toEqual([recordFileName("same")]);
  });
});

describe("states", () => {
  it("has each state on disk before the call resolves", async () => {
    const ledger = await open();
    const onDisk = async () => {
      const other = await Ledger.open(dir, { clock, log: logs.log });
      const r = other.lookup("r1");
      await other.close();
      return r;
    };

    await ledger.admit(input("r1"));
    expect(await onDisk()).toMatchObject({ state: "admitted", command: expect.anything() });

    await ledger.markLaunching("r1", { resultId: "res-1", startedAt: T0 + 1, spawnAt: T0 + 3001 });
    expect(await onDisk()).toMatchObject({
      state: "launching",
      resultId: "res-1",
      startedAt: T0 + 1,
      spawnAt: T0 + 3001,
    });

    await ledger.markRunning("r1");
    expect(await onDisk()).toMatchObject({ state: "running", resultId: "res-1" });

    await ledger.markFinished("r1", { finishedAt: T0 + 9000, exitCode: 3 });
    const finished = await onDisk();
    expect(finished).toMatchObject({ state: "finished", finishedAt: T0 + 9000, exitCode: 3 });
    expect(finished).not.toHaveProperty("command");
    const file = await readRecordFile("r1");
    expect(file).toMatchObject({ state: "finished", result_id: "res-1", exit_code: 3 });
    expect(file).not.toHaveProperty("command");
  });

  it("ignores markFinished on a finished or unknown record, refuses skipped states", async () => {
    const ledger = await open();
    await ledger.admit(input("r1"));
    await expect(ledger.markRunning("r1")).rejects.toThrow(/r1 running: state is admitted/);
    await ledger.markFinished("r1", { finishedAt: T0 + 1, exitCode: 122 });
    await ledger.markFinished("r1", { finishedAt: T0 + 2, exitCode: 0 });
    expect(ledger.lookup("r1")).toMatchObject({ state: "finished", exitCode: 122 });
    expect(await readRecordFile("r1")).toMatchObject({ exit_code: 122, finished_at: T0 + 1 });
    await expect(
      ledger.markFinished("never-seen", { finishedAt: T0, exitCode: 0 }),
    ).resolves.toBeUndefined();
    await expect(
      ledger.markLaunching("never-seen", { resultId: "x", startedAt: T0, spawnAt: T0 }),
    ).rejects.toThrow(/never-seen.*no record/);
  });

  it("keeps the last of racing marks on disk (the drain racing the actor)", async () => {
    const ledger = await open();
    await ledger.admit(input("r1"));
    await ledger.markLaunching("r1", { resultId: "res", startedAt: T0, spawnAt: T0 });
    await Promise.all([
      ledger.markRunning("r1"),
      ledger.markFinished("r1", { finishedAt: T0 + 1, exitCode: 0 }),
      ledger.markFinished("r1", { finishedAt: T0 + 2, exitCode: 1 }),
    ]);
    expect(await readRecordFile("r1")).toMatchObject({ state: "finished", exit_code: 0 });
  });

  it("lists unfinished records oldest first", async () => {
    const ledger = await open();
    await ledger.admit(input("b", { receivedAt: T0 + 20 }));
    await ledger.admit(input("a", { receivedAt: T0 + 10 }));
    await ledger.admit(input("c", { receivedAt: T0 + 30 }));
    await ledger.markFinished("c", { finishedAt: T0 + 31, exitCode: 0 });
    expect(ledger.unfinished().map((r) => r.requestId)).toEqual(["a", "b"]);
  });
});

describe("damaged folder", () => {
  it("moves torn and garbage files to corrupt/, logs why, and loads the rest", async () => {
    let ledger = await open();
    await ledger.admit(input("good"));
    await ledger.admit(input("torn"));
    await ledger.close();
    const tornFile = join(dir, recordFileName("torn"));
    const full = await readFile(tornFile, "utf8");
    await writeFile(tornFile, full.slice(0, full.length / 2));
    const garbageName = recordFileName("garbage");
    await writeFile(join(dir, garbageName), Buffer.from([0xff, 0x00, 0x13, 0x37]));
    await writeFile(join(dir, "notes.txt"), "hello");

    ledger = await open();
    expect(ledger.size).toBe(1);
    expect(ledger.lookup("good")).toBeDefined();
    expect(ledger.lookup("torn")).toBeUndefined();
    expect((await readdir(join(dir, "corrupt"))).sort()).toEqual(
      [recordFileName("torn"), garbageName, "notes.txt"].sort(),
    );
    expect(await recordFiles()).toEqual([recordFileName("good")]);
    const warned = logs.lines.filter(
      (l) => l.msg === "ledger: unreadable record moved to corrupt/",
    );
    expect(warned.map((l) => l.file)).toContain(tornFile);
    expect(warned.find((l) => l.file === tornFile)?.reason).toMatch(/not JSON/);
    // The torn record's request_id is free again: the replayed command can be admitted.
    expect(await ledger.admit(input("torn"))).toEqual({ outcome: "admitted" });
  });

  it("sets aside a valid-looking record stored under another request_id's name", async () => {
    await mkdir(dir, { recursive: true });
    const record = encodeRecord({
      requestId: "a",
      fingerprint: fingerprintOf("x"),
      source: "live",
      subject: "commands.all",
      receivedAt: T0,
      state: "finished",
    });
    await writeFile(join(dir, recordFileName("b")), record);
    await writeFile(
      join(dir, recordFileName("c")),
      JSON.stringify({ ...JSON.parse(record), request_id: "c", state: "running" }),
    );
    const ledger = await open();
    expect(ledger.size).toBe(0);
    expect((await readdir(join(dir, "corrupt"))).sort()).toEqual(
      [recordFileName("b"), recordFileName("c")].sort(),
    );
  });

  it("deletes leftover temporary files of interrupted writes", async () => {
    await mkdir(dir, { recursive: true });
    const leftover = `.tmp-${recordFileName("x")}.abcd1234`;
    await writeFile(join(dir, leftover), '{"request_id":');
    const ledger = await open();
    expect(await readdir(dir)).toEqual([]);
    expect(existsSync(join(dir, "corrupt"))).toBe(false);
    expect(ledger.size).toBe(0);
  });
});

describe("pruning", () => {
  it("drops finished records older than 8 days, keeps unfinished ones and recent ones", async () => {
    const ledger = await open();
    await ledger.admit(input("old-finished"));
    await ledger.markFinished("old-finished", { finishedAt: T0, exitCode: 0 });
    await ledger.admit(input("old-unfinished"));
    clock.t = T0 + 2 * DAY;
    await ledger.admit(input("recent-finished"));
    await ledger.markFinished("recent-finished", { finishedAt: clock.t, exitCode: 0 });

    clock.t = T0 + 8 * DAY;
    expect(await ledger.prune()).toBe(0);
    clock.t = T0 + 8 * DAY + 1;
    expect(await ledger.prune()).toBe(1);
    expect(ledger.lookup("old-finished")).toBeUndefined();
    expect(ledger.lookup("old-unfinished")).toBeDefined();
    expect(await recordFiles()).toEqual(
      [recordFileName("old-unfinished"), recordFileName("recent-finished")].sort(),
    );
    // A redelivery after pruning is a new command again (8 days outlasts EXEC's 7).
    expect(await ledger.admit(input("old-finished"))).toEqual({ outcome: "admitted" });
  });

  it("prunes at start", async () => {
    let ledger = await open();
    await ledger.admit(input("old"));
    await ledger.markFinished("old", { finishedAt: T0, exitCode: 0 });
    await ledger.close();
    clock.t = T0 + 9 * DAY;
    ledger = await open();
    expect(ledger.size).toBe(0);
    expect(await recordFiles()).toEqual([]);
  });

  it("drops the oldest finished records beyond the count bound, never unfinished ones", async () => {
    let ledger = await open({ maxRecords: 100 });
    for (let i = 0; i < 8; i++) {
      await ledger.admit(input(`f${i}`, { receivedAt: T0 + i }));
      await ledger.markFinished(`f${i}`, { finishedAt: T0 + i, exitCode: 0 });
    }
    for (let i = 0; i < 3; i++) await ledger.admit(input(`u${i}`, { receivedAt: T0 + i }));
    await ledger.close();

    ledger = await open({ maxRecords: 5 });
    expect(ledger.size).toBe(5);
    expect([...["u0", "u1", "u2", "f6", "f7"]].every((id) => ledger.lookup(id))).toBe(true);
    expect(await recordFiles()).toHaveLength(5);
    await ledger.close();

    ledger = await open({ maxRecords: 2 });
    expect(ledger.size).toBe(3);
    expect(ledger.unfinished().map((r) => r.requestId)).toEqual(["u0", "u1", "u2"]);
  });

  it("keeps memory at the bound while admitting, evicting the oldest finished", async () => {
    const ledger = await open({ maxRecords: 10 });
    await ledger.admit(input("open"));
    for (let i = 0; i < 50; i++) {
      clock.t++;
      await ledger.admit(input(`r${i}`));
      await ledger.markFinished(`r${i}`, { finishedAt: clock.t, exitCode: 0 });
      expect(ledger.size).toBeLessThanOrEqual(11);
    }
    await ledger.admit(input("last"));
    expect(ledger.size).toBe(10);
    expect(ledger.lookup("open")).toBeDefined();
    expect(ledger.lookup("r0")).toBeUndefined();
    expect(ledger.lookup("r49")).toBeDefined();
    await ledger.close();
    expect(await recordFiles()).toHaveLength(10);
  });

  it("prunes on its timer", async () => {
    const ledger = await open();
    await ledger.admit(input("old"));
    await ledger.markFinished("old", { finishedAt: T0, exitCode: 0 });
    clock.t = T0 + 9 * DAY;
    ledger.startPruneTimer(20);
    await expect.poll(() => ledger.size, { timeout: 5000 }).toBe(0);
  });
});

describe("write failures", () => {
  it("does not admit when the record cannot be written, and admits the redelivery later", async () => {
    const ledger = await open();
    const aside = `${dir}.aside`;
    await rename(dir, aside);
    await writeFile(dir, "a file where the ledger folder was");

    const attempts = [ledger.admit(input("r1")), ledger.admit(input("r1", { source: "replay" }))];
    await expect(attempts[0]).rejects.toThrow(/cannot write admitted record of request_id r1/);
    // The concurrent delivery must not be acknowledged as a duplicate of nothing.
    await expect(attempts[1]).rejects.toThrow(/r1 not admitted/);
    expect(ledger.lookup("r1")).toBeUndefined();
    expect(ledger.size).toBe(0);

    await rm(dir);
    await rename(aside, dir);
    expect(await ledger.admit(input("r1", { source: "replay" }))).toEqual({ outcome: "admitted" });
    expect(await readRecordFile("r1")).toMatchObject({ state: "admitted", source: "replay" });
  });

  it("keeps the previous state when a mark cannot be written", async () => {
    const ledger = await open();
    await ledger.admit(input("r1"));
    const aside = `${dir}.aside`;
    await rename(dir, aside);
    await writeFile(dir, "not a folder");
    await expect(
      ledger.markLaunching("r1", { resultId: "res", startedAt: T0, spawnAt: T0 }),
    ).rejects.toThrow(/launching record of request_id r1/);
    expect(ledger.lookup("r1")?.state).toBe("admitted");
    await rm(dir);
    await rename(aside, dir);
  });

  it("rejects work after close", async () => {
    const ledger = await open();
    await ledger.admit(input("r1"));
    await ledger.close();
    await expect(ledger.admit(input("r2"))).rejects.toThrow(/closed/);
    await expect(ledger.markRunning("r1")).rejects.toThrow(/closed/);
  });

  it("refuses to write a record it could not load back", async () => {
    const ledger = await open();
    await expect(ledger.admit(input("r1", { fingerprint: "ABC" }))).rejects.toThrow(/fingerprint/);
    expect(ledger.size).toBe(0);
    expect(await recordFiles()).toEqual([]);
  });
});
