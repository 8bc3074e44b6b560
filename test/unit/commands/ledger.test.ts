import fs, { existsSync } from "node:fs";
import {
  appendFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  afterEach,
  beforeAll,
  beforeEach,
  describe,
  expect,
  it,
  type MockInstance,
  vi,
} from "vitest";
import {
  type AdmitInput,
  JOURNAL_FILE,
  Ledger,
  type LedgerOptions,
} from "../../../src/services/commands/ledger.js";
import {
  decodeRecord,
  encodeRecord,
  fingerprintOf,
  type LedgerRecord,
  recordFileName,
} from "../../../src/services/commands/ledgerRecord.js";
import { parseJournal } from "../../../src/services/fs/journal.js";
import { createLogger, type Logger } from "../../../src/services/logging/logger.js";
import type { Clock } from "../../../src/services/time/clock.js";
import { enospc, fileHandlePrototype, type HandleMethods } from "../../helpers/fileHandles.js";
import { waitFor, withTimeout } from "../../helpers/waitFor.js";

const DAY = 24 * 60 * 60 * 1000;
const T0 = Date.UTC(2025, 0, 1);
/** A linger no test waits for: admissions reach the disk only when something asks for a sync. */
const NEVER = 60_000;

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

let proto: HandleMethods;
let realWrite: HandleMethods["write"];

beforeAll(async () => {
  proto = await fileHandlePrototype();
  realWrite = proto.write;
});

let dir: string;
let clock: ManualClock;
let logs: ReturnType<typeof captureLogger>;
const opened: Ledger[] = [];
const spies: MockInstance[] = [];

beforeEach(async () => {
  const root = await mkdtemp(join(tmpdir(), "ledger-test-"));
  dir = join(root, "ledger");
  clock = new ManualClock();
  logs = captureLogger();
});

afterEach(async () => {
  for (const s of spies.splice(0)) s.mockRestore();
  for (const l of opened.splice(0)) await l.close();
  await rm(join(dir, ".."), { recursive: true, force: true });
});

async function open(extra: Partial<LedgerOptions> = {}): Promise<Ledger> {
  const l = await Ledger.open(dir, { clock, log: logs.log, ...extra });
  opened.push(l);
  return l;
}

function failWrites(): MockInstance<HandleMethods["write"]> {
  const s = vi.spyOn(proto, "write");
  spies.push(s);
  return s;
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

const journalPath = (): string => join(dir, JOURNAL_FILE);

/** Every line of the journal file as it is on disk now, payloads parsed. */
async function journalLines(): Promise<Array<{ key: string; record: Record<string, unknown> }>> {
  const parsed = parseJournal(await readFile(journalPath()));
  return parsed.lines.map((l) => ({ key: l.key, record: JSON.parse(l.payload) }));
}

/** The record the journal file holds for `requestId` (its last line), if any. */
async function onDisk(requestId: string): Promise<Record<string, unknown> | undefined> {
  const mine = (await journalLines()).filter((l) => l.key === requestId);
  return mine.at(-1)?.record;
}

/** The lines of every `intents-<n>` file, oldest file first. */
async function intentLines(): Promise<
  Array<{ file: string; key: string; record: Record<string, unknown> }>
> {
  const files = (await readdir(dir)).filter((f) => /^intents-\d+$/.test(f));
  files.sort((a, b) => Number(a.slice(8)) - Number(b.slice(8)));
  const out: Array<{ file: string; key: string; record: Record<string, unknown> }> = [];
  for (const file of files) {
    for (const l of parseJournal(await readFile(join(dir, file))).lines)
      out.push({ file, key: l.key, record: JSON.parse(l.payload) });
  }
  return out;
}

/** The states written for `requestId`, in file order. */
async function statesOnDisk(requestId: string): Promise<unknown[]> {
  return (await journalLines()).filter((l) => l.key === requestId).map((l) => l.record.state);
}

async function keysOnDisk(): Promise<string[]> {
  return [...new Set((await journalLines()).map((l) => l.key))].sort();
}

const legacyRecord = (requestId: string, over: Partial<LedgerRecord> = {}): LedgerRecord => ({
  requestId,
  fingerprint: fingerprintOf(`body of ${requestId}`),
  source: "replay",
  subject: "commands.all",
  receivedAt: clock.now(),
  state: "admitted",
  command: { request_id: requestId, script: "echo old" },
  ...over,
});

async function writeLegacy(r: LedgerRecord): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, recordFileName(r.requestId));
  await writeFile(file, encodeRecord(r));
  return file;
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
    await ledger.durable("r1");
    // Duplicates write nothing: one line, the first delivery's.
    expect(await journalLines()).toEqual([
      { key: "r1", record: expect.objectContaining({ source: "live", state: "admitted" }) },
    ]);
  });

  it("answers at once and writes the admission lazily; durable() syncs it", async () => {
    const ledger = await open({ admitLingerMs: NEVER });
    const id = 'weird/id:with\\chars\n"quoted"';
    expect(await ledger.admit(input(id, { rejection: "shell: unknown value" }))).toEqual({
      outcome: "admitted",
    });
    expect(ledger.lookup(id)).toMatchObject({ state: "admitted" });
    // Decided in memory; nothing asked for a sync yet.
    expect(await journalLines()).toEqual([]);

    await withTimeout(ledger.durable(id), 5000, "durable");
    expect(await journalLines()).toEqual([
      {
        key: id,
        record: {
          request_id: id,
          fingerprint: fingerprintOf(`body of ${id}`),
          source: "live",
          subject: "commands.all",
          received_at: T0,
          state: "admitted",
          command: { request_id: id, script: "echo hi" },
          rejection: "shell: unknown value",
        },
      },
    ]);
    // Already on disk: resolves without another write.
    await expect(ledger.durable(id)).resolves.toBeUndefined();
  });

  it("rejects durable() for a request_id it does not know", async () => {
    const ledger = await open();
    await expect(ledger.durable("never-seen")).rejects.toThrow(/never-seen is not recorded/);
  });

  it("syncs a lazy admission within the linger without any other write", async () => {
    const ledger = await open({ admitLingerMs: 20 });
    await ledger.admit(input("r1"));
    await waitFor(async () => (await onDisk("r1"))?.state === "admitted", {
      timeoutMs: 5000,
      what: "the admission to reach the journal",
    });
  });

  it("remembers request_ids across a restart, in every state", async () => {
    let ledger = await open();
    const launch = (id: string) => ({ resultId: `res-${id}`, startedAt: T0, spawnAt: T0 + 10 });
    await ledger.admit(input("done"));
    await ledger.markLaunching("done", launch("done"));
    await ledger.markRunning("done");
    await ledger.markFinished("done", { finishedAt: T0 + 5, exitCode: 0 });
    await ledger.admit(input("launching"));
    await ledger.markLaunching("launching", launch("launching"));
    await ledger.admit(input("running"));
    await ledger.markLaunching("running", launch("running"), { running: true });
    await ledger.admit(input("waiting"));
    await ledger.close();

    ledger = await open();
    expect(ledger.size).toBe(4);
    expect(ledger.lookup("done")).toMatchObject({ state: "finished", exitCode: 0 });
    expect(ledger.lookup("done")).not.toHaveProperty("command");
    expect(ledger.lookup("launching")).toMatchObject({
      state: "launching",
      resultId: "res-launching",
      spawnAt: T0 + 10,
      command: { request_id: "launching", script: "echo hi" },
    });
    expect(ledger.lookup("running")).toMatchObject({ state: "running", resultId: "res-running" });
    expect(ledger.lookup("waiting")).toMatchObject({ state: "admitted" });
    for (const id of ["done", "launching", "running", "waiting"]) {
      expect(await ledger.admit(input(id, { source: "replay" }))).toEqual({
        outcome: "duplicate",
        conflict: false,
      });
    }
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
    await ledger.durable("same");
    expect(await journalLines()).toEqual([
      { key: "same", record: expect.objectContaining({ source: "live", state: "admitted" }) },
    ]);
  });

  it("refuses to write a record it could not load back", async () => {
    const ledger = await open();
    await expect(ledger.admit(input("r1", { fingerprint: "ABC" }))).rejects.toThrow(/fingerprint/);
    await expect(ledger.admit(input("r2", { receivedAt: -1 }))).rejects.toThrow(/received_at/);
    await expect(ledger.admit(input(""))).rejects.toThrow(/non-empty request_id/);
    expect(ledger.size).toBe(0);
    await expect(ledger.durable("r1")).rejects.toThrow(/not recorded/);
    await ledger.close();
    expect(await journalLines()).toEqual([]);
  });
});

describe("states", () => {
  it("has each state on disk before the call resolves", async () => {
    const ledger = await open({ admitLingerMs: NEVER });
    await ledger.admit(input("r1"));
    // The first urgent write takes the pending admission along.
    await ledger.markLaunching("r1", { resultId: "res-1", startedAt: T0 + 1, spawnAt: T0 + 3001 });
    expect(await statesOnDisk("r1")).toEqual(["admitted", "launching"]);
    expect(await onDisk("r1")).toMatchObject({
      state: "launching",
      result_id: "res-1",
      started_at: T0 + 1,
      spawn_at: T0 + 3001,
      command: expect.anything(),
    });

    // `running` is synced into the intent log before the call resolves; the journal gets it lazily.
    await ledger.markRunning("r1");
    expect((await intentLines()).map((l) => [l.key, l.record.state, l.record.result_id])).toEqual([
      ["r1", "running", "res-1"],
    ]);
    expect(await statesOnDisk("r1")).toEqual(["admitted", "launching"]);

    await ledger.markFinished("r1", { finishedAt: T0 + 9000, exitCode: 3 });
    const finished = await onDisk("r1");
    expect(finished).toMatchObject({
      state: "finished",
      result_id: "res-1",
      finished_at: T0 + 9000,
      exit_code: 3,
    });
    expect(finished).not.toHaveProperty("command");
    expect(await statesOnDisk("r1")).toEqual(["admitted", "launching", "running", "finished"]);
  });

  it("writes running directly with markLaunching({ running: true }); markRunning is then a no-op", async () => {
    const ledger = await open({ admitLingerMs: NEVER });
    await ledger.admit(input("r1"));
    await ledger.markLaunching(
      "r1",
      { resultId: "res-1", startedAt: T0, spawnAt: T0 },
      { running: true },
    );
    expect((await intentLines()).map((l) => l.record.state)).toEqual(["running"]);
    expect(ledger.lookup("r1")).toMatchObject({ state: "running", resultId: "res-1" });
    await ledger.markRunning("r1");
    expect((await intentLines()).map((l) => l.record.state)).toEqual(["running"]);
    await expect(
      ledger.markLaunching("r1", { resultId: "res-2", startedAt: T0, spawnAt: T0 }),
    ).rejects.toThrow(/r1 launching: state is running, expected admitted/);
    await ledger.close();
    expect(await statesOnDisk("r1")).toEqual(["admitted", "running"]);
  });

  it("ignores markFinished on a finished or unknown record, refuses skipped states", async () => {
    const ledger = await open();
    await ledger.admit(input("r1"));
    await expect(ledger.markRunning("r1")).rejects.toThrow(/r1 running: state is admitted/);
    await ledger.markFinished("r1", { finishedAt: T0 + 1, exitCode: 122 });
    await ledger.markFinished("r1", { finishedAt: T0 + 2, exitCode: 0 });
    expect(ledger.lookup("r1")).toMatchObject({ state: "finished", exitCode: 122 });
    expect(await statesOnDisk("r1")).toEqual(["admitted", "finished"]);
    expect(await onDisk("r1")).toMatchObject({ exit_code: 122, finished_at: T0 + 1 });
    await expect(
      ledger.markFinished("never-seen", { finishedAt: T0, exitCode: 0 }),
    ).resolves.toBeUndefined();
    await expect(
      ledger.markLaunching("never-seen", { resultId: "x", startedAt: T0, spawnAt: T0 }),
    ).rejects.toThrow(/never-seen.*no record/);
    expect(await keysOnDisk()).toEqual(["r1"]);
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
    expect(await onDisk("r1")).toMatchObject({ state: "finished", exit_code: 0 });
    expect(await statesOnDisk("r1")).toEqual(["admitted", "launching", "running", "finished"]);
    expect(ledger.lookup("r1")).toMatchObject({ state: "finished", exitCode: 0 });
  });

  it("lists unfinished records oldest first", async () => {
    const ledger = await open();
    await ledger.admit(input("b", { receivedAt: T0 + 20 }));
    await ledger.admit(input("a", { receivedAt: T0 + 10 }));
    await ledger.admit(input("c", { receivedAt: T0 + 30 }));
    await ledger.markFinished("c", { finishedAt: T0 + 31, exitCode: 0 });
    expect(ledger.unfinished().map((r) => r.requestId)).toEqual(["a", "b"]);
    await ledger.close();
    const again = await open();
    expect(again.unfinished().map((r) => r.requestId)).toEqual(["a", "b"]);
  });
});

describe("intent log: `running` synced before the spawn, on this thread", () => {
  const launch = { resultId: "res-1", startedAt: T0, spawnAt: T0 };

  it("a crash before the journal got the running line: the next start knows the run (never again)", async () => {
    const first = await open({ admitLingerMs: NEVER });
    await first.admit(input("r1"));
    await first.markLaunching("r1", launch, { running: true });
    expect(await onDisk("r1")).toBeUndefined(); // the journal has nothing yet

    // A second process reads the folder as the crashed one left it.
    const next = await Ledger.open(dir, { clock, log: logs.log });
    opened.push(next);
    expect(next.lookup("r1")).toMatchObject({ state: "running", resultId: "res-1" });
    expect(await onDisk("r1")).toMatchObject({ state: "running", result_id: "res-1" });
    expect((await readdir(dir)).filter((f) => f.startsWith("intents-"))).toEqual([]);
    expect(
      logs.lines.some((l) => l.msg === "ledger: running records taken from the intent log"),
    ).toBe(true);
    expect(await next.admit(input("r1"))).toEqual({ outcome: "duplicate", conflict: false });
  });

  it("keeps the intents file when the record taken from it cannot be written to the journal", async () => {
    const first = await open({ admitLingerMs: NEVER });
    await first.admit(input("r1"));
    await first.markLaunching("r1", launch, { running: true });
    failWrites().mockRejectedValueOnce(enospc());
    const next = await Ledger.open(dir, { clock, log: logs.log });
    opened.push(next);
    expect(next.lookup("r1")?.state).toBe("running");
    expect((await intentLines()).map((l) => l.key)).toEqual(["r1"]);
    expect(
      logs.lines.some(
        (l) =>
          l.msg ===
          "ledger: running records of the intent log not moved to the journal; files kept",
      ),
    ).toBe(true);
  });

  it("an intent never takes a record back from finished", async () => {
    const first = await open();
    await first.admit(input("r1"));
    await first.markLaunching("r1", launch, { running: true });
    await first.markFinished("r1", { finishedAt: T0 + 5, exitCode: 0 });
    expect((await intentLines()).length).toBe(1);
    const next = await Ledger.open(dir, { clock, log: logs.log });
    opened.push(next);
    expect(next.lookup("r1")).toMatchObject({ state: "finished", exitCode: 0 });
  });

  it("ignores an intent of a record older than the prune age that the journal no longer has", async () => {
    const first = await open({ admitLingerMs: NEVER });
    await first.admit(input("r1"));
    await first.markLaunching("r1", launch, { running: true });
    clock.t += 9 * DAY;
    await rm(journalPath());
    const next = await Ledger.open(dir, { clock, log: logs.log });
    opened.push(next);
    expect(next.lookup("r1")).toBeUndefined();
  });

  it("moves to a new file once the lines are big enough, and removes the old one once the journal holds them", async () => {
    const ledger = await open({ intentsRotateBytes: 1 });
    for (const id of ["r1", "r2", "r3"]) {
      await ledger.admit(input(id));
      await ledger.markLaunching(id, { ...launch, resultId: `res-${id}` }, { running: true });
    }
    await waitFor(
      async () => (await readdir(dir)).filter((f) => f.startsWith("intents-")).length === 0,
      {
        what: "the rotated intents files to go",
      },
    );
    expect(await keysOnDisk()).toEqual(["r1", "r2", "r3"]);
    expect(await statesOnDisk("r3")).toEqual(["admitted", "running"]);
  });

  it("a slow sync sends later running lines through the journal, with one warning", async () => {
    const ledger = await open({ slowIntentMs: -1, admitLingerMs: NEVER });
    await ledger.admit(input("r1"));
    await ledger.markLaunching("r1", launch, { running: true });
    await ledger.admit(input("r2"));
    await ledger.markLaunching("r2", { ...launch, resultId: "res-2" }, { running: true });
    expect((await intentLines()).map((l) => l.key)).toEqual(["r1"]);
    expect(await statesOnDisk("r2")).toEqual(["admitted", "running"]);
    expect(logs.lines.filter((l) => /slow disk sync/.test(String(l.msg))).length).toBe(1);
  });

  it("a failed intent write: the mark rejects, the record stays admitted, no partial line is left", async () => {
    const ledger = await open();
    await ledger.admit(input("r1"));
    const spy = vi.spyOn(fs, "writeSync").mockImplementationOnce(() => {
      throw enospc();
    });
    spies.push(spy);
    await expect(ledger.markLaunching("r1", launch, { running: true })).rejects.toThrow(
      /r1: cannot write .*intents-1: ENOSPC/,
    );
    expect(ledger.lookup("r1")?.state).toBe("admitted");
    expect(await readFile(join(dir, "intents-1"), "utf8")).toBe("");
    await ledger.markLaunching("r1", launch, { running: true });
    expect((await intentLines()).map((l) => l.record.state)).toEqual(["running"]);
  });

  it("spawnerWritesIntents: the line is handed to the spawner once, and what it wrote is read at start", async () => {
    const first = await open({ admitLingerMs: NEVER, spawnerWritesIntents: true });
    await first.admit(input("r1"));
    await first.markLaunching("r1", launch, { running: true });
    expect(first.lookup("r1")?.state).toBe("running");
    expect(await intentLines()).toEqual([]); // not written by the ledger
    const intent = first.takeSpawnIntent("r1")!;
    expect(intent.file).toBe(join(dir, "intents-1"));
    expect(parseJournal(Buffer.from(intent.line)).lines).toEqual([
      { key: "r1", payload: expect.stringContaining('"state":"running"') },
    ]);
    expect(first.takeSpawnIntent("r1")).toBeUndefined();

    // The spawner writes it and forks; the agent dies before the journal's linger.
    await writeFile(intent.file, intent.line, { flag: "a" });
    first.spawnIntentWritten("r1");
    const next = await Ledger.open(dir, { clock, log: logs.log });
    opened.push(next);
    expect(next.lookup("r1")).toMatchObject({ state: "running", resultId: "res-1" });
  });

  it("spawnerWritesIntents: a rotated file is kept one rotation longer (spawn orders may still name it)", async () => {
    const ledger = await open({ spawnerWritesIntents: true, intentsRotateBytes: 1 });
    for (const id of ["r1", "r2", "r3"]) {
      await ledger.admit(input(id));
      await ledger.markLaunching(id, { ...launch, resultId: `res-${id}` }, { running: true });
      const intent = ledger.takeSpawnIntent(id)!;
      await writeFile(intent.file, intent.line, { flag: "a" });
      await waitFor(async () => (await keysOnDisk()).includes(id), {
        what: `${id} in the journal`,
      });
    }
    // r1 → intents-1, r2 → intents-2, r3 → intents-3: only the newest rotated one is left.
    await waitFor(
      async () =>
        JSON.stringify((await readdir(dir)).filter((f) => f.startsWith("intents-")).sort()) ===
        JSON.stringify(["intents-3"]),
      { what: "intents-1 and -2 to go" },
    );
  });

  it("skips damaged intent lines with a warning", async () => {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "intents-4"), '00000000 "r9" {not a record}\n');
    await open();
    expect(logs.lines.find((l) => l.msg === "ledger: damaged intent lines ignored")).toMatchObject({
      lines: 1,
    });
  });
});

describe("results held by the ledger", () => {
  const raw = JSON.stringify({
    result_id: "res-1",
    request_id: "r1",
    exit_code: 0,
    _truncated: [],
  });

  async function finishedWithResult(ledger: Ledger): Promise<void> {
    await ledger.admit(input("r1"));
    await ledger.markLaunching(
      "r1",
      { resultId: "res-1", startedAt: T0, spawnAt: T0 },
      { running: true },
    );
    await ledger.markFinished("r1", { finishedAt: T0 + 5, exitCode: 0, result: raw });
  }

  it("keeps the result on disk with the finished record, across a restart, until released", async () => {
    let ledger = await open();
    await finishedWithResult(ledger);
    expect(await onDisk("r1")).toMatchObject({ state: "finished", result: raw });
    await ledger.close();
    ledger = await open();
    expect(ledger.heldResults().map((r) => [r.requestId, r.result])).toEqual([["r1", raw]]);
    await ledger.releaseResult("r1");
    expect(ledger.heldResults()).toEqual([]);
    expect(await onDisk("r1")).toMatchObject({ state: "finished", exit_code: 0 });
    expect(await onDisk("r1")).not.toHaveProperty("result");
    await ledger.close();
    expect((await open()).heldResults()).toEqual([]);
  });

  it("never prunes or evicts a record that still holds its result", async () => {
    const ledger = await open({ maxRecords: 1 });
    await finishedWithResult(ledger);
    clock.t = T0 + 9 * DAY;
    await ledger.admit(input("r2", { receivedAt: clock.t }));
    expect(await ledger.prune()).toBe(0);
    expect(ledger.lookup("r1")).toBeDefined();
    await ledger.releaseResult("r1");
    expect(await ledger.prune()).toBe(1);
    expect(ledger.lookup("r1")).toBeUndefined();
  });

  it("refuses a result on a record that is not finished", () => {
    const line = encodeRecord({ ...legacyRecord("r1"), state: "admitted" });
    const withResult = line.replace('"state":"admitted"', '"state":"admitted","result":"{}"');
    const decoded = decodeRecord(withResult, "r1");
    expect(decoded.ok).toBe(false);
    expect(decoded.ok ? "" : decoded.error.message).toMatch(/result/);
  });
});

describe("damaged journal", () => {
  it("cuts a torn last line and loads the rest", async () => {
    let ledger = await open();
    await ledger.admit(input("a"));
    await ledger.admit(input("b"));
    await ledger.markFinished("b", { finishedAt: T0, exitCode: 0 });
    await ledger.close();
    const whole = (await stat(journalPath())).size;
    const lines = (await readFile(journalPath(), "utf8")).split("\n");
    await appendFile(journalPath(), lines[0]!.slice(0, Math.floor(lines[0]!.length / 2)));

    ledger = await open();
    expect(ledger.size).toBe(2);
    expect(ledger.lookup("a")).toMatchObject({ state: "admitted" });
    expect(ledger.lookup("b")).toMatchObject({ state: "finished" });
    const warned = logs.lines.find((l) => /torn last line/.test(String(l.msg)));
    expect(warned).toMatchObject({ level: "warn", file: journalPath() });
    expect(warned?.bytes).toBeGreaterThan(0);
    const parsed = parseJournal(await readFile(journalPath()));
    expect(parsed.goodBytes).toBe((await stat(journalPath())).size);
    expect((await stat(journalPath())).size).toBeLessThanOrEqual(whole);
    // A torn line is what a crash leaves: nothing to set aside.
    expect(existsSync(join(dir, "corrupt"))).toBe(false);
  });

  it("skips a damaged line, logs it, keeps a copy in corrupt/ and loads the rest", async () => {
    let ledger = await open();
    await ledger.admit(input("a"));
    await ledger.admit(input("damaged"));
    await ledger.admit(input("c"));
    await ledger.close();
    // Damage the middle line (one changed byte: its checksum no longer matches).
    const lines = (await readFile(journalPath(), "utf8")).split("\n");
    expect(lines[1]).toContain('"damaged"');
    lines[1] = lines[1]!.replace("commands.all", "commands.ALL");
    await writeFile(journalPath(), lines.join("\n"));

    clock.t = T0 + 1234;
    ledger = await open();
    expect(ledger.lookup("a")).toBeDefined();
    expect(ledger.lookup("c")).toBeDefined();
    expect(ledger.lookup("damaged")).toBeUndefined();
    expect(logs.lines).toContainEqual(
      expect.objectContaining({
        level: "warn",
        msg: "ledger: damaged journal lines ignored",
        lines: 1,
        copy: join(dir, "corrupt", `journal-${T0 + 1234}-${process.pid}`),
      }),
    );
    expect(await readdir(join(dir, "corrupt"))).toEqual([`journal-${T0 + 1234}-${process.pid}`]);
    expect(
      await readFile(join(dir, "corrupt", `journal-${T0 + 1234}-${process.pid}`), "utf8"),
    ).toBe(lines.join("\n"));
    // The journal itself is rewritten without the damaged line.
    const parsed = parseJournal(await readFile(journalPath()));
    expect(parsed.corruptLines).toBe(0);
    expect(parsed.lines.map((l) => l.key).sort()).toEqual(["a", "c"]);
    // Its request_id is unknown again: the replayed command can be admitted.
    expect(await ledger.admit(input("damaged"))).toEqual({ outcome: "admitted" });
  });

  it("sets aside a line whose record does not decode or is stored under another key", async () => {
    let ledger = await open();
    await ledger.admit(input("good"));
    await ledger.close();
    // Valid checksums, wrong content: written by hand the way the journal writes lines.
    const { crc32 } = await import("node:zlib");
    const line = (key: string, payload: string) => {
      const body = `${JSON.stringify(key)} ${payload}`;
      return `${crc32(body).toString(16).padStart(8, "0")} ${body}\n`;
    };
    const other = encodeRecord(legacyRecord("x"));
    await appendFile(journalPath(), line("y", other) + line("z", '{"request_id":"z"}'));

    ledger = await open();
    expect(ledger.size).toBe(1);
    expect(ledger.lookup("x")).toBeUndefined();
    expect(ledger.lookup("y")).toBeUndefined();
    expect(logs.lines).toContainEqual(
      expect.objectContaining({ msg: "ledger: damaged journal lines ignored", lines: 2 }),
    );
    expect(await keysOnDisk()).toEqual(["good"]);
  });

  it("deletes leftover temporary files of interrupted writes", async () => {
    await mkdir(dir, { recursive: true });
    const leftover = `.tmp-${recordFileName("x")}.abcd1234`;
    await writeFile(join(dir, leftover), '{"request_id":');
    await writeFile(join(dir, `${JOURNAL_FILE}.compact`), "half a compaction");
    const ledger = await open();
    expect(await readdir(dir)).toEqual([JOURNAL_FILE]);
    expect(ledger.size).toBe(0);
  });
});

describe("legacy one-file-per-record layout", () => {
  it("loads record files, folds them into the journal and deletes them", async () => {
    const running = legacyRecord("old-running", {
      state: "running",
      resultId: "res-old",
      startedAt: T0 - 10,
      spawnAt: T0 - 5,
    });
    const admitted = legacyRecord("old/admitted", { receivedAt: T0 - 100 });
    const finished = legacyRecord("old-finished", {
      state: "finished",
      finishedAt: T0 - 1,
      exitCode: 4,
    });
    const files = await Promise.all([running, admitted, finished].map(writeLegacy));
    await writeFile(join(dir, "notes.txt"), "not ours");

    let ledger = await open();
    expect(ledger.size).toBe(3);
    expect(ledger.lookup("old-running")).toMatchObject({ state: "running", resultId: "res-old" });
    expect(ledger.lookup("old-finished")).toMatchObject({ state: "finished", exitCode: 4 });
    expect(ledger.unfinished().map((r) => r.requestId)).toEqual(["old/admitted", "old-running"]);
    expect(await keysOnDisk()).toEqual(["old-finished", "old-running", "old/admitted"]);
    expect(await onDisk("old-running")).toEqual(JSON.parse(encodeRecord(running)));
    for (const f of files) expect(existsSync(f)).toBe(false);
    // Anything that is not a .json file is left alone.
    expect((await readdir(dir)).sort()).toEqual([JOURNAL_FILE, "notes.txt"]);
    await ledger.close();

    // From now on the journal is what remembers them.
    ledger = await open();
    expect(ledger.size).toBe(3);
    expect(await ledger.admit(input("old-running"))).toEqual({
      outcome: "duplicate",
      conflict: false,
    });
  });

  it("prefers the journal's record over a leftover file of the same request_id", async () => {
    let ledger = await open();
    await ledger.admit(input("r1"));
    await ledger.markFinished("r1", { finishedAt: T0 + 1, exitCode: 0 });
    await ledger.close();
    const file = await writeLegacy(legacyRecord("r1"));

    ledger = await open();
    expect(ledger.lookup("r1")).toMatchObject({ state: "finished" });
    expect(await onDisk("r1")).toMatchObject({ state: "finished" });
    expect(existsSync(file)).toBe(false);
  });

  it("moves garbage and foreign .json files to corrupt/, logs why, and loads the rest", async () => {
    await writeLegacy(legacyRecord("good"));
    const garbageName = recordFileName("garbage");
    await writeFile(join(dir, garbageName), Buffer.from([0xff, 0x00, 0x13, 0x37]));
    await writeFile(join(dir, "config.json"), "{}");

    const ledger = await open();
    expect(ledger.size).toBe(1);
    expect(ledger.lookup("good")).toBeDefined();
    expect((await readdir(join(dir, "corrupt"))).sort()).toEqual(
      ["config.json", garbageName].sort(),
    );
    const warned = logs.lines.filter(
      (l) => l.msg === "ledger: unreadable record moved to corrupt/",
    );
    expect(warned.find((l) => l.file === join(dir, garbageName))?.reason).toMatch(/not JSON/);
    expect(warned.find((l) => l.file === join(dir, "config.json"))?.reason).toMatch(
      /not a ledger record file name/,
    );
    expect((await readdir(dir)).sort()).toEqual(["corrupt", JOURNAL_FILE]);
    expect(await keysOnDisk()).toEqual(["good"]);
  });

  it("sets aside a valid-looking record stored under another request_id's name", async () => {
    await mkdir(dir, { recursive: true });
    const record = encodeRecord(legacyRecord("a", { state: "finished" }));
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
    expect(await journalLines()).toEqual([]);
  });
});

describe("pruning", () => {
  it("drops finished records older than 8 days, keeps unfinished ones and recent ones", async () => {
    let ledger = await open();
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
    expect(ledger.lookup("recent-finished")).toBeDefined();
    expect(logs.lines).toContainEqual(
      expect.objectContaining({ msg: "ledger pruned", expired: 1, remaining: 2 }),
    );
    // A redelivery after pruning is a new command again (8 days outlasts EXEC's 7).
    expect(await ledger.admit(input("old-finished"))).toEqual({ outcome: "admitted" });
    await ledger.close();

    ledger = await open();
    expect(ledger.lookup("old-finished")).toMatchObject({ state: "admitted" });
    expect(await keysOnDisk()).toEqual(["old-finished", "old-unfinished", "recent-finished"]);
  });

  it("prunes at start and leaves the pruned records out of the journal", async () => {
    let ledger = await open();
    await ledger.admit(input("old"));
    await ledger.markFinished("old", { finishedAt: T0, exitCode: 0 });
    await ledger.admit(input("open"));
    await ledger.close();
    clock.t = T0 + 9 * DAY;
    ledger = await open();
    expect(ledger.size).toBe(1);
    expect(ledger.lookup("old")).toBeUndefined();
    expect(await keysOnDisk()).toEqual(["open"]);
  });

  it("compacts the journal at reopen: smaller file, pruned ids gone", async () => {
    let ledger = await open();
    for (let i = 0; i < 200; i++) {
      await ledger.admit(input(`f${i}`));
      await ledger.markLaunching(`f${i}`, { resultId: `res${i}`, startedAt: T0, spawnAt: T0 });
      await ledger.markRunning(`f${i}`);
      await ledger.markFinished(`f${i}`, { finishedAt: T0, exitCode: 0 });
    }
    await ledger.admit(input("unfinished"));
    clock.t = T0 + 1;
    await ledger.admit(input("recent"));
    await ledger.markFinished("recent", { finishedAt: clock.t, exitCode: 0 });
    await ledger.close();
    const before = (await stat(journalPath())).size;
    expect((await journalLines()).length).toBe(200 * 4 + 3);

    clock.t = T0 + 8 * DAY + 1;
    ledger = await open();
    expect(ledger.size).toBe(2);
    const after = (await stat(journalPath())).size;
    expect(after).toBeLessThan(before / 100);
    const lines = await journalLines();
    expect(lines.map((l) => l.key).sort()).toEqual(["recent", "unfinished"]);
    expect(lines.find((l) => l.key === "recent")?.record.state).toBe("finished");
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
    expect(["u0", "u1", "u2", "f6", "f7"].every((id) => ledger.lookup(id))).toBe(true);
    expect(await keysOnDisk()).toEqual(["f6", "f7", "u0", "u1", "u2"]);
    await ledger.close();

    ledger = await open({ maxRecords: 2 });
    expect(ledger.size).toBe(3);
    expect(ledger.unfinished().map((r) => r.requestId)).toEqual(["u0", "u1", "u2"]);
    expect(await keysOnDisk()).toEqual(["u0", "u1", "u2"]);
  });

  it("keeps memory at the bound while admitting, evicting the oldest finished", async () => {
    let ledger = await open({ maxRecords: 10 });
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

    ledger = await open({ maxRecords: 10 });
    expect(ledger.size).toBe(10);
    const keys = await keysOnDisk();
    expect(keys).toHaveLength(10);
    expect(keys).toContain("open");
    expect(keys).toContain("last");
    expect(keys).not.toContain("r0");
  });

  it("prunes on its timer", async () => {
    const ledger = await open();
    await ledger.admit(input("old"));
    await ledger.markFinished("old", { finishedAt: T0, exitCode: 0 });
    clock.t = T0 + 9 * DAY;
    ledger.startPruneTimer(20);
    await waitFor(() => ledger.size === 0, { timeoutMs: 5000, what: "the timed prune" });
    expect(ledger.lookup("old")).toBeUndefined();
  });
});

describe("write failures", () => {
  it("forgets an admission whose line cannot be written, and admits the redelivery", async () => {
    const ledger = await open({ admitLingerMs: NEVER });
    failWrites().mockRejectedValueOnce(enospc());

    expect(await ledger.admit(input("r1"))).toEqual({ outcome: "admitted" });
    const durable = ledger.durable("r1");
    await expect(durable).rejects.toThrow(/r1 not admitted: cannot write its record.*ENOSPC/);
    expect(ledger.lookup("r1")).toBeUndefined();
    expect(ledger.size).toBe(0);
    await expect(ledger.durable("r1")).rejects.toThrow(/r1 is not recorded/);
    expect(logs.lines).toContainEqual(
      expect.objectContaining({
        level: "error",
        msg: "command not admitted: ledger write failed (a replayed copy will come back)",
        request_id: "r1",
        subject: "commands.all",
      }),
    );

    expect(await ledger.admit(input("r1", { source: "replay" }))).toEqual({ outcome: "admitted" });
    await ledger.durable("r1");
    expect(await journalLines()).toEqual([
      { key: "r1", record: expect.objectContaining({ state: "admitted", source: "replay" }) },
    ]);
  });

  it("keeps the previous state when a mark cannot be written", async () => {
    const ledger = await open();
    await ledger.admit(input("r1"));
    await ledger.durable("r1");
    failWrites().mockRejectedValueOnce(enospc());
    await expect(
      ledger.markLaunching("r1", { resultId: "res", startedAt: T0, spawnAt: T0 }),
    ).rejects.toThrow(/cannot write launching record of request_id r1.*ENOSPC/);
    expect(ledger.lookup("r1")?.state).toBe("admitted");
    expect(await statesOnDisk("r1")).toEqual(["admitted"]);
    // The admission itself was on disk before: not forgotten.
    await expect(ledger.durable("r1")).resolves.toBeUndefined();

    await ledger.markLaunching("r1", { resultId: "res", startedAt: T0, spawnAt: T0 });
    expect(await statesOnDisk("r1")).toEqual(["admitted", "launching"]);
  });

  it("loses a half-written batch whole: its admissions are forgotten, its marks reject", async () => {
    const ledger = await open({ admitLingerMs: NEVER });
    await ledger.admit(input("kept"));
    await ledger.durable("kept");
    failWrites().mockImplementationOnce(async function (this: HandleMethods, buf, off, len, pos) {
      await realWrite.call(this, buf, off, Math.floor(len / 2), pos);
      throw enospc();
    });

    await ledger.admit(input("r1"));
    await ledger.admit(input("r2"));
    const r2Durable = ledger.durable("r2").catch((err: Error) => err);
    await expect(
      ledger.markLaunching("r1", { resultId: "res", startedAt: T0, spawnAt: T0 }),
    ).rejects.toThrow(/cannot write launching record of request_id r1/);
    expect((await r2Durable) as Error).toBeInstanceOf(Error);
    expect(ledger.lookup("r1")).toBeUndefined();
    expect(ledger.lookup("r2")).toBeUndefined();
    expect(ledger.lookup("kept")).toMatchObject({ state: "admitted" });
    const lostLogs = logs.lines.filter((l) => String(l.msg).startsWith("command not admitted"));
    expect(lostLogs.map((l) => l.request_id).sort()).toEqual(["r1", "r2"]);

    // The file was cut back to whole lines: the next admission follows them.
    expect(await ledger.admit(input("r1"))).toEqual({ outcome: "admitted" });
    await ledger.durable("r1");
    const parsed = parseJournal(await readFile(journalPath()));
    expect(parsed.corruptLines).toBe(0);
    expect(parsed.goodBytes).toBe((await stat(journalPath())).size);
    expect(parsed.lines.map((l) => l.key)).toEqual(["kept", "r1"]);
  });
});

describe("close", () => {
  it("writes pending admissions, then rejects work", async () => {
    const ledger = await open({ admitLingerMs: NEVER });
    await ledger.admit(input("r1"));
    expect(await journalLines()).toEqual([]);
    await ledger.close();
    expect(await statesOnDisk("r1")).toEqual(["admitted"]);
    await expect(ledger.admit(input("r2"))).rejects.toThrow(/closed/);
    await expect(ledger.markRunning("r1")).rejects.toThrow(/closed/);
    await expect(ledger.markFinished("r1", { finishedAt: T0, exitCode: 0 })).rejects.toThrow(
      /closed/,
    );
  });

  it("waits for marks in flight, including those chained behind another", async () => {
    const ledger = await open();
    await ledger.admit(input("r1"));
    const marks = [
      ledger.markLaunching("r1", { resultId: "res", startedAt: T0, spawnAt: T0 }),
      ledger.markRunning("r1"),
      ledger.markFinished("r1", { finishedAt: T0, exitCode: 0 }),
    ];
    await ledger.close();
    await Promise.all(marks);
    expect(ledger.lookup("r1")?.state).toBe("finished");
    expect(await statesOnDisk("r1")).toEqual(["admitted", "launching", "running", "finished"]);
  });
});

describe("regressions", () => {
  it("does not carry a legacy record pruned at open into the journal", async () => {
    await writeLegacy(legacyRecord("ancient", { state: "finished", finishedAt: T0, exitCode: 0 }));
    clock.t = T0 + 9 * DAY;
    const ledger = await open();
    expect(ledger.lookup("ancient")).toBeUndefined();
    // Pruned in memory, so it must not be in the compacted journal either.
    expect(await keysOnDisk()).toEqual([]);
  });

  it("keeps a legacy file whose record could not be written to the journal", async () => {
    await writeLegacy(
      legacyRecord("old-running", {
        state: "running",
        resultId: "res",
        startedAt: T0,
        spawnAt: T0,
      }),
    );
    // The first write at open (the batch of legacy lines) fails, e.g. a full disk.
    failWrites().mockRejectedValueOnce(enospc());
    const ledger = await open().catch((err: Error) => err);
    for (const s of spies.splice(0)) s.mockRestore();
    if (ledger instanceof Error) {
      // Refusing to start is acceptable, as long as the record file is kept.
      expect(existsSync(join(dir, recordFileName("old-running")))).toBe(true);
      return;
    }
    await ledger.close();
    opened.splice(opened.indexOf(ledger), 1);
    // Accepted at open means remembered: a restart must still know the request_id.
    const again = await open();
    expect(again.lookup("old-running")).toMatchObject({ state: "running" });
  });
});
