import { existsSync, readdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createLogger, type Logger } from "../../../src/services/logging/logger.js";
import { OutboxStore, startOutboxReports } from "../../../src/services/outbox/store.js";
import { tempDir } from "../../helpers/tmp.js";
import { waitFor } from "../../helpers/waitFor.js";

type Line = Record<string, unknown> & { msg: string; level: string };

function capturingLogger(): { log: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const log = createLogger({
    level: "debug",
    destination: { write: (s: string) => void lines.push(JSON.parse(s) as Line) },
  });
  return { log, lines };
}

const ID_A = "11111111-1111-4111-8111-111111111111";
const ID_B = "22222222-2222-4222-8222-222222222222";
const ID_C = "33333333-3333-4333-8333-333333333333";

async function openStore(dir = join(tempDir(), "outbox")) {
  const { log, lines } = capturingLogger();
  const store = await OutboxStore.open(dir, { log, warnFiles: 2, warnBytes: 10_000 });
  return { store, lines, dir };
}

describe("OutboxStore", () => {
  it("writes <result_id>.json with the payload and the private members", async () => {
    const { store, dir } = await openStore();
    const name = await store.write(
      { result_id: ID_A, stdout: "x" },
      { _stdout_parts: { keep: 1 } },
    );
    expect(name).toBe(`${ID_A}.json`);
    expect(JSON.parse(readFileSync(join(dir, name), "utf8"))).toEqual({
      result_id: ID_A,
      stdout: "x",
      _stdout_parts: { keep: 1 },
    });
    expect(await store.read(name)).toBeInstanceOf(Buffer);
    expect(readdirSync(dir)).toEqual([name]);
  });

  it("refuses names that could not be a file or members that would be lost", async () => {
    const { store } = await openStore();
    await expect(store.write({ result_id: "../evil" })).rejects.toThrow(/result_id/);
    await expect(store.write({ result_id: "" })).rejects.toThrow(/result_id/);
    await expect(store.write({ result_id: ID_A, _secret: 1 })).rejects.toThrow(/_secret/);
    await expect(store.write({ result_id: ID_A }, { parts: 1 })).rejects.toThrow(/parts/);
  });

  it("lists oldest modification time first, then by name", async () => {
    const { store, dir } = await openStore();
    for (const id of [ID_C, ID_B, ID_A]) await store.write({ result_id: id });
    utimesSync(join(dir, `${ID_C}.json`), 1000, 1000);
    utimesSync(join(dir, `${ID_A}.json`), 2000, 2000);
    utimesSync(join(dir, `${ID_B}.json`), 2000, 2000);
    writeFileSync(join(dir, "notes.txt"), "not an outbox file");
    await mkdir(join(dir, "stuck"), { recursive: true });
    expect((await store.list()).map((e) => e.name)).toEqual([
      `${ID_C}.json`,
      `${ID_A}.json`,
      `${ID_B}.json`,
    ]);
    expect(await store.count()).toBe(3);
    expect(await store.bytes()).toBe(
      (await store.list()).reduce((n, e) => n + readFileSync(join(dir, e.name)).length, 0),
    );
  });

  it("removes temporary files of interrupted writes at open", async () => {
    const dir = join(tempDir(), "outbox");
    await mkdir(dir);
    writeFileSync(join(dir, `.tmp-${ID_A}.json.abcd1234`), "{half");
    writeFileSync(join(dir, `${ID_B}.json`), "{}");
    const { store } = await openStore(dir);
    expect(readdirSync(dir)).toEqual([`${ID_B}.json`]);
    expect(await store.count()).toBe(1);
  });

  it("moves files to stuck/ without overwriting and logs why", async () => {
    const { store, dir, lines } = await openStore();
    for (let i = 0; i < 3; i++) {
      await store.write({ result_id: ID_A, n: i });
      await store.moveToStuck(`${ID_A}.json`, `reason ${i}`);
    }
    expect(readdirSync(join(dir, "stuck")).sort()).toEqual([
      `${ID_A}.json`,
      `${ID_A}.json.1`,
      `${ID_A}.json.2`,
    ]);
    expect(JSON.parse(readFileSync(join(dir, "stuck", `${ID_A}.json.2`), "utf8")).n).toBe(2);
    expect(lines.filter((l) => l.msg.includes("stuck")).map((l) => l.reason)).toEqual([
      "reason 0",
      "reason 1",
      "reason 2",
    ]);
    expect(await store.moveToStuck(`${ID_B}.json`, "gone")).toBeUndefined();
    expect(await store.stuckCount()).toBe(3);
  });

  it("knows whether a result exists, waiting or stuck", async () => {
    const { store } = await openStore();
    await store.write({ result_id: ID_A });
    await store.write({ result_id: ID_B });
    await store.moveToStuck(`${ID_B}.json`, "test");
    expect(await store.has(ID_A)).toBe(true);
    expect(await store.has(ID_B)).toBe(true);
    expect(await store.has(ID_C)).toBe(false);
    await store.remove(`${ID_A}.json`);
    await store.remove(`${ID_A}.json`);
    expect(await store.has(ID_A)).toBe(false);
  });

  it("reports stuck files at open and warns when the outbox is large", async () => {
    const first = await openStore();
    for (const id of [ID_A, ID_B, ID_C]) await first.store.write({ result_id: id });
    await first.store.moveToStuck(`${ID_A}.json`, "test");
    await first.store.write({ result_id: ID_A, big: "x".repeat(20_000) });
    const again = await openStore(first.dir);
    expect(again.lines.find((l) => l.msg.includes("stuck files"))?.stuck).toBe(1);
    const large = again.lines.find((l) => l.msg.includes("outbox is large"));
    expect(large).toMatchObject({ files: 3, level: "warn" });
  });

  it("says nothing at open when nothing is stuck or large", async () => {
    const { lines } = await openStore();
    expect(lines.filter((l) => l.level === "warn")).toEqual([]);
  });

  it("repeats the report on a timer while there is something to report", async () => {
    const { store, lines } = await openStore();
    await store.write({ result_id: ID_A });
    await store.moveToStuck(`${ID_A}.json`, "test");
    const { log } = capturingLogger();
    const stop = startOutboxReports([store], log, 20);
    try {
      await waitFor(() => lines.filter((l) => l.msg.includes("stuck files")).length >= 3, {
        what: "three stuck reports",
      });
    } finally {
      stop();
    }
    expect(existsSync(join(store.stuckDir, `${ID_A}.json`))).toBe(true);
  });
});
