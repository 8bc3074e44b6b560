import { existsSync } from "node:fs";
import { appendFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
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
import { Journal, type JournalOptions, parseJournal } from "../../../src/services/fs/journal.js";
import { enospc, fileHandlePrototype, type HandleMethods } from "../../helpers/fileHandles.js";
import { waitFor, withTimeout } from "../../helpers/waitFor.js";

let proto: HandleMethods;
let realWrite: HandleMethods["write"];
let realDatasync: HandleMethods["datasync"];

beforeAll(async () => {
  proto = await fileHandlePrototype();
  realWrite = proto.write;
  realDatasync = proto.datasync;
});

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

let root: string;
let path: string;
const journals: Journal[] = [];
const spies: MockInstance[] = [];

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "journal-test-"));
  path = join(root, "journal");
});

afterEach(async () => {
  for (const s of spies.splice(0)) s.mockRestore();
  for (const j of journals.splice(0)) await j.close();
  await rm(root, { recursive: true, force: true });
});

async function openJournal(
  opts: JournalOptions = {},
): Promise<Awaited<ReturnType<typeof Journal.open>>> {
  const opened = await Journal.open(path, opts);
  journals.push(opened.journal);
  return opened;
}

function spyWrite(): MockInstance<HandleMethods["write"]> {
  const s = vi.spyOn(proto, "write");
  spies.push(s);
  return s;
}

function spyDatasync(): MockInstance<HandleMethods["datasync"]> {
  const s = vi.spyOn(proto, "datasync");
  spies.push(s);
  return s;
}

/** Every line in the file (not only the last one per key), with the parse counters. */
async function fileState(): Promise<ReturnType<typeof parseJournal> & { bytes: number }> {
  const buf = await readFile(path);
  return { ...parseJournal(buf), bytes: buf.length };
}

async function keysInFile(): Promise<string[]> {
  return (await fileState()).lines.map((l) => l.key);
}

const lineOf = (key: string, payload: string): string => {
  const body = `${JSON.stringify(key)} ${payload}`;
  return `${crc32(body).toString(16).padStart(8, "0")} ${body}\n`;
};

describe("format", () => {
  it("writes `<crc32 hex> <key as JSON> <payload>` lines that parseJournal reads back", async () => {
    const { journal } = await openJournal();
    const key = 'odd "key"\nwith\\chars é';
    await journal.append(key, '{"a":1}', true);
    await journal.append("k2", "[]", true);
    const text = await readFile(path, "utf8");
    expect(text).toBe(lineOf(key, '{"a":1}') + lineOf("k2", "[]"));
    expect(parseJournal(Buffer.from(text))).toEqual({
      lines: [
        { key, payload: '{"a":1}' },
        { key: "k2", payload: "[]" },
      ],
      goodBytes: Buffer.byteLength(text),
      corruptLines: 0,
    });
    expect(journal.size).toBe(Buffer.byteLength(text));
  });

  it("parseJournal counts malformed complete lines and stops before a line without newline", () => {
    const good = lineOf("a", "1");
    const badCrc = `00000000${lineOf("b", "2").slice(8)}`;
    const keyNotString = lineOf("x", "3").replace('"x"', "12");
    const noKeyBody = "123 {}";
    const keyNotStringFixed = `${crc32(noKeyBody).toString(16).padStart(8, "0")} ${noKeyBody}\n`;
    const torn = lineOf("c", "4").slice(0, 7);
    const buf = Buffer.from(
      `${good}${badCrc}${keyNotString}${keyNotStringFixed}short\n${good}${torn}`,
      "utf8",
    );
    const parsed = parseJournal(buf);
    expect(parsed.lines).toEqual([
      { key: "a", payload: "1" },
      { key: "a", payload: "1" },
    ]);
    expect(parsed.corruptLines).toBe(4);
    expect(parsed.goodBytes).toBe(buf.length - torn.length);
  });
});

describe("durability and group commit", () => {
  it("resolves an urgent append only after its line is written and synced", async () => {
    const { journal } = await openJournal({ lingerMs: 60_000 });
    const sync = spyDatasync();
    const gate = deferred();
    sync.mockImplementationOnce(async function (this: HandleMethods) {
      await gate.promise;
      return realDatasync.call(this);
    });
    let resolved = false;
    const appended = journal.append("a", '"v1"', true).then(() => {
      resolved = true;
    });
    await waitFor(() => sync.mock.calls.length === 1, { timeoutMs: 5000, what: "the sync" });
    // Written, not yet synced: the caller must still be waiting.
    expect(await keysInFile()).toEqual(["a"]);
    expect(resolved).toBe(false);
    gate.resolve();
    await withTimeout(appended, 5000, "the append");
    expect(resolved).toBe(true);
  });

  it("keeps a lazy line queued until flush(), then syncs it", async () => {
    const { journal } = await openJournal({ lingerMs: 60_000 });
    const sync = spyDatasync();
    let resolved = false;
    const appended = journal.append("lazy", "1", false).then(() => {
      resolved = true;
    });
    // Give the journal every chance to write on its own: a macrotask turn.
    await new Promise((r) => setImmediate(r));
    expect(await keysInFile()).toEqual([]);
    expect(resolved).toBe(false);
    journal.flush();
    await withTimeout(appended, 5000, "the flushed append");
    expect(await keysInFile()).toEqual(["lazy"]);
    expect(sync).toHaveBeenCalledTimes(1);
  });

  it("syncs a lazy line by itself once lingerMs has passed", async () => {
    const { journal } = await openJournal({ lingerMs: 50 });
    const sync = spyDatasync();
    const t0 = performance.now();
    await withTimeout(journal.append("lazy", "1", false), 5000, "the lazy append");
    expect(performance.now() - t0).toBeGreaterThanOrEqual(45);
    expect(await keysInFile()).toEqual(["lazy"]);
    expect(sync).toHaveBeenCalledTimes(1);
  });

  it("takes queued lazy lines along with the next urgent one, in one batch", async () => {
    const { journal } = await openJournal({ lingerMs: 60_000 });
    const write = spyWrite();
    const sync = spyDatasync();
    const lazy = Array.from({ length: 50 }, (_, i) => journal.append(`l${i}`, `${i}`, false));
    const urgent = journal.append("u", "1", true);
    await withTimeout(Promise.all([...lazy, urgent]), 5000, "the batch");
    expect(write).toHaveBeenCalledTimes(1);
    expect(sync).toHaveBeenCalledTimes(1);
    expect(await keysInFile()).toEqual([...Array.from({ length: 50 }, (_, i) => `l${i}`), "u"]);
  });

  it("group-commits many concurrent urgent appends", async () => {
    const { journal } = await openJournal();
    const sync = spyDatasync();
    const n = 500;
    await withTimeout(
      Promise.all(Array.from({ length: n }, (_, i) => journal.append(`k${i}`, `${i}`, true))),
      10_000,
      "the appends",
    );
    // The first line goes alone; the rest queue behind it and share the next sync.
    expect(sync.mock.calls.length).toBeLessThanOrEqual(2);
    const state = await fileState();
    expect(state.lines).toHaveLength(n);
    expect(state.corruptLines).toBe(0);
    expect(journal.size).toBe(state.bytes);
  });

  it("refuses a payload with a newline and writes nothing for it", async () => {
    const { journal } = await openJournal();
    await expect(journal.append("k", '{"a":\n1}', true)).rejects.toThrow(/must be one line/);
    await journal.append("ok", "1", true);
    expect(await keysInFile()).toEqual(["ok"]);
  });
});

describe("reopen", () => {
  it("returns the last line of every key", async () => {
    let { journal } = await openJournal();
    await journal.append("a", '"a1"', true);
    await journal.append("b", '"b1"', false);
    await journal.append("a", '"a2"', true);
    await journal.append("c", '"c1"', true);
    await journal.close();
    const reopened = await openJournal();
    journal = reopened.journal;
    expect(reopened.load.tornBytes).toBe(0);
    expect(reopened.load.corruptLines).toBe(0);
    const byKey = Object.fromEntries(reopened.load.lines.map((l) => [l.key, l.payload]));
    expect(byKey).toEqual({ a: '"a2"', b: '"b1"', c: '"c1"' });
    expect(reopened.load.lines).toHaveLength(3);
    // Nothing was rewritten by opening.
    expect(await keysInFile()).toEqual(["a", "b", "a", "c"]);
  });

  it("cuts a torn last line and keeps appending whole lines after it", async () => {
    let { journal } = await openJournal();
    await journal.append("a", "1", true);
    await journal.append("b", "2", true);
    await journal.close();
    const whole = (await readFile(path)).length;
    const half = lineOf("c", '{"half":true}').slice(0, 12);
    await appendFile(path, half);

    const reopened = await openJournal();
    journal = reopened.journal;
    expect(reopened.load.tornBytes).toBe(half.length);
    expect(reopened.load.corruptLines).toBe(0);
    expect(reopened.load.lines.map((l) => l.key)).toEqual(["a", "b"]);
    expect((await readFile(path)).length).toBe(whole);
    expect(journal.size).toBe(whole);

    await journal.append("d", "4", true);
    await journal.close();
    const again = await openJournal();
    expect(again.load).toMatchObject({ tornBytes: 0, corruptLines: 0 });
    expect(again.load.lines.map((l) => l.key)).toEqual(["a", "b", "d"]);
  });

  it("skips and counts a damaged line in the middle, loading the rest", async () => {
    const { journal } = await openJournal();
    await journal.append("a", '{"v":1}', true);
    await journal.append("b", '{"v":2}', true);
    await journal.append("c", '{"v":3}', true);
    await journal.close();
    const text = await readFile(path, "utf8");
    await writeFile(path, text.replace('{"v":2}', '{"v":7}'));

    const reopened = await openJournal();
    expect(reopened.load.corruptLines).toBe(1);
    expect(reopened.load.tornBytes).toBe(0);
    expect(reopened.load.lines).toEqual([
      { key: "a", payload: '{"v":1}' },
      { key: "c", payload: '{"v":3}' },
    ]);
  });

  it("removes a leftover of an interrupted compaction and keeps the journal", async () => {
    const { journal } = await openJournal();
    await journal.append("a", "1", true);
    await journal.close();
    await writeFile(`${path}.compact`, lineOf("zzz", "9").slice(0, 5));
    const reopened = await openJournal();
    expect(existsSync(`${path}.compact`)).toBe(false);
    expect(reopened.load.lines.map((l) => l.key)).toEqual(["a"]);
  });
});

describe("compaction", () => {
  it("leaves one line per live key and drops forgotten keys", async () => {
    const { journal } = await openJournal();
    for (let i = 0; i < 3; i++) {
      await journal.append("a", `"a${i}"`, true);
      await journal.append("b", `"b${i}"`, true);
      await journal.append("c", `"c${i}"`, true);
    }
    const before = (await fileState()).bytes;
    journal.forget("b");
    journal.forget("never-there");
    await journal.compact();
    const after = await fileState();
    expect(after.lines).toEqual([
      { key: "a", payload: '"a2"' },
      { key: "c", payload: '"c2"' },
    ]);
    expect(after.bytes).toBeLessThan(before);
    expect(journal.size).toBe(after.bytes);
    expect(existsSync(`${path}.compact`)).toBe(false);

    // The compacted file takes appends and reopens as the same content.
    await journal.append("d", '"d0"', true);
    await journal.close();
    const reopened = await openJournal();
    expect(reopened.load.lines.map((l) => [l.key, l.payload])).toEqual([
      ["a", '"a2"'],
      ["c", '"c2"'],
      ["d", '"d0"'],
    ]);
  });

  it("writes lines queued before a compaction first", async () => {
    const { journal } = await openJournal({ lingerMs: 60_000 });
    await journal.append("a", "1", true);
    const order: string[] = [];
    const lazy = journal.append("b", "2", false).then(() => order.push("line"));
    const compacted = journal.compact().then(() => order.push("compaction"));
    await Promise.all([lazy, compacted]);
    expect(order).toEqual(["line", "compaction"]);
    expect(await keysInFile()).toEqual(["a", "b"]);
  });

  it("compacts by itself once the file is over 1 MiB and twice its live lines", async () => {
    const { journal } = await openJournal();
    const payload = JSON.stringify("x".repeat(20_000));
    await Promise.all(Array.from({ length: 60 }, () => journal.append("big", payload, true)));
    await waitFor(() => journal.size < 100_000, { timeoutMs: 10_000, what: "the compaction" });
    await journal.append("small", "1", true);
    const state = await fileState();
    expect(state.lines.map((l) => l.key)).toEqual(["big", "small"]);
    expect(journal.size).toBe(state.bytes);
  });

  it("leaves the journal whole when a compaction cannot be written", async () => {
    const { journal } = await openJournal();
    await journal.append("a", "1", true);
    await journal.append("b", "2", true);
    const before = await readFile(path, "utf8");
    journal.forget("a");
    spyWrite().mockRejectedValueOnce(enospc());
    await expect(journal.compact()).rejects.toThrow(/ENOSPC/);
    expect(await readFile(path, "utf8")).toBe(before);
    expect(existsSync(`${path}.compact`)).toBe(false);
    await journal.append("c", "3", true);
    expect(await keysInFile()).toEqual(["a", "b", "c"]);
  });
});

describe("write failures", () => {
  it("loses the failed batch and everything behind it: onLost first, then the rejections", async () => {
    const events: string[] = [];
    let lost: { keys: string[]; err: Error } | undefined;
    const { journal } = await openJournal({
      lingerMs: 60_000,
      onLost: (keys, err) => {
        events.push("onLost");
        lost = { keys: [...keys].sort(), err };
      },
    });
    await journal.append("before", "0", true);
    const goodBytes = (await readFile(path)).length;

    // Half the batch reaches the file before the write fails (a disk filling up).
    const gate = deferred();
    spyWrite().mockImplementationOnce(async function (this: HandleMethods, buf, off, len, pos) {
      await realWrite.call(this, buf, off, Math.floor(len / 2), pos);
      await gate.promise;
      throw enospc();
    });
    const watch = (key: string, p: Promise<void>) =>
      p.then(
        () => events.push(`resolved ${key}`),
        (err: Error) => events.push(`rejected ${key}: ${err.message}`),
      );
    const settled = [
      watch("a", journal.append("a", '"in the failing batch"', true)),
      // Queued behind the failing batch:
      watch("b", journal.append("b", '"lazy"', false)),
      watch("c", journal.append("c", '"urgent"', true)),
      watch("a", journal.append("a", '"again"', true)),
    ];
    gate.resolve();
    await withTimeout(Promise.all(settled), 5000, "the lost appends");

    expect(events[0]).toBe("onLost");
    expect(events).toHaveLength(5);
    for (const e of events.slice(1)) expect(e).toMatch(/^rejected \w: .*cannot append: ENOSPC/);
    expect(lost?.keys).toEqual(["a", "b", "c"]);
    expect(lost?.err.cause).toMatchObject({ code: "ENOSPC" });

    // The half-written batch is cut off: later lines follow whole ones.
    await journal.append("after", "1", true);
    const state = await fileState();
    expect(state.corruptLines).toBe(0);
    expect(state.goodBytes).toBe(state.bytes);
    expect(state.lines.map((l) => l.key)).toEqual(["before", "after"]);
    expect(state.bytes).toBe(goodBytes + lineOf("after", "1").length);
    expect(journal.size).toBe(state.bytes);

    await journal.close();
    const reopened = await openJournal();
    expect(reopened.load).toMatchObject({ tornBytes: 0, corruptLines: 0 });
    expect(reopened.load.lines.map((l) => l.key)).toEqual(["before", "after"]);
  });

  it("rejects when the sync fails", async () => {
    const lostKeys: string[] = [];
    const { journal } = await openJournal({ onLost: (keys) => lostKeys.push(...keys) });
    spyDatasync().mockRejectedValueOnce(
      Object.assign(new Error("EIO: i/o error"), { code: "EIO" }),
    );
    await expect(journal.append("a", "1", true)).rejects.toThrow(/cannot append: EIO/);
    expect(lostKeys).toEqual(["a"]);
    await journal.append("b", "2", true);
    expect(await keysInFile()).toEqual(["b"]);
  });
});

describe("close", () => {
  it("writes what is queued, then refuses appends and compactions", async () => {
    const { journal } = await openJournal({ lingerMs: 60_000 });
    const queued = [journal.append("x", "1", false), journal.append("y", "2", false)];
    await journal.close();
    await withTimeout(Promise.all(queued), 5000, "the queued appends");
    expect(await keysInFile()).toEqual(["x", "y"]);
    await expect(journal.append("z", "3", true)).rejects.toThrow(`journal ${path}: closed`);
    await expect(journal.compact()).rejects.toThrow(`journal ${path}: closed`);
    await expect(journal.close()).resolves.toBeUndefined();
    expect(await keysInFile()).toEqual(["x", "y"]);
  });
});

describe("regressions", () => {
  it("goes on after a short write (bytesWritten < length) until the whole batch is written", async () => {
    const { journal } = await openJournal();
    // What write(2) does when the disk fills up mid-buffer: it writes what fits and says so.
    spyWrite().mockImplementationOnce(async function (this: HandleMethods, buf, off, len, pos) {
      return realWrite.call(this, buf, off, Math.floor(len / 2), pos);
    });
    const outcome = await journal.append("a", '"whole line"', true).then(
      () => "resolved",
      () => "rejected",
    );
    const state = await fileState();
    // Resolved means on disk: the line must be there, whole.
    if (outcome === "resolved") expect(state.lines.map((l) => l.key)).toEqual(["a"]);
    // Either way the file must stay a valid journal for the lines that follow.
    await journal.append("b", "2", true);
    const after = await fileState();
    expect(after.corruptLines).toBe(0);
    expect(after.goodBytes).toBe(after.bytes);
    expect(after.lines.map((l) => l.key)).toContain("b");
  });

  it("refuses a lazy append made while close() waits for a write, instead of leaving it pending", async () => {
    const { journal } = await openJournal({ lingerMs: 60_000 });
    const gate = deferred();
    spyDatasync().mockImplementationOnce(async function (this: HandleMethods) {
      await gate.promise;
      return realDatasync.call(this);
    });
    const first = journal.append("a", "1", true);
    const closing = journal.close();
    // close() has not finished: the journal still takes the line. It must write or refuse it.
    const late = journal.append("b", "2", false).then(
      () => "resolved",
      () => "rejected",
    );
    gate.resolve();
    await first;
    await closing;
    const outcome = await withTimeout(late, 2000, "the late append to settle");
    if (outcome === "resolved") expect(await keysInFile()).toEqual(["a", "b"]);
  });
});
