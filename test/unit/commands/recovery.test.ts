import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Ledger } from "../../../src/services/commands/ledger.js";
import { fingerprintOf } from "../../../src/services/commands/ledgerRecord.js";
import { recoverLedger } from "../../../src/services/commands/recovery.js";
import { silentLogger } from "../../../src/services/logging/logger.js";
import { OutboxStore } from "../../../src/services/outbox/store.js";
import { tempDir } from "../../helpers/tmp.js";

const T0 = Date.UTC(2026, 0, 1);
const clock = { now: () => T0, monotonic: () => 0 };
const ledgers: Ledger[] = [];
afterEach(async () => {
  for (const l of ledgers.splice(0)) await l.close();
});

async function setup() {
  const dir = tempDir("recovery-");
  const open = async () => {
    const l = await Ledger.open(join(dir, "ledger"), { clock, log: silentLogger() });
    ledgers.push(l);
    return l;
  };
  const results = await OutboxStore.open(join(dir, "outbox"), { log: silentLogger() });
  return { dir, open, results };
}

const payload = {
  result_id: "11111111-2222-4333-8444-555555555555",
  request_id: "r1",
  pc_id: "PC1",
  exit_code: 0,
  stdout: "hi\n",
  stderr: "",
};

async function finishedHoldingResult(ledger: Ledger): Promise<void> {
  await ledger.admit({
    requestId: "r1",
    fingerprint: fingerprintOf("r1"),
    source: "live",
    subject: "commands.all",
    receivedAt: T0,
  });
  await ledger.markLaunching(
    "r1",
    { resultId: payload.result_id, startedAt: T0, spawnAt: T0 },
    { running: true },
  );
  const raw = JSON.stringify({ ...payload, _stdout_truncated: false });
  await ledger.markFinished("r1", { finishedAt: T0, exitCode: 0, result: raw });
}

describe("recovery of results the ledger held (agent stopped before the hand-over)", () => {
  it("moves the result to the outbox with its private members and lets the record go", async () => {
    const s = await setup();
    const before = await s.open();
    await finishedHoldingResult(before);
    await before.close();
    ledgers.splice(0);

    const ledger = await s.open();
    const resumable = await recoverLedger({
      ledger,
      results: s.results,
      pcId: "PC1",
      now: () => T0,
      log: silentLogger(),
    });
    expect(resumable).toEqual([]);
    const file = join(s.results.dir, `${payload.result_id}.json`);
    expect(JSON.parse(await readFile(file, "utf8"))).toEqual({
      ...payload,
      _stdout_truncated: false,
    });
    expect(ledger.heldResults()).toEqual([]);
    expect(ledger.lookup("r1")).toMatchObject({ state: "finished", exitCode: 0 });
  });

  it("does not write the result a second time when the outbox has it already", async () => {
    const s = await setup();
    const ledger = await s.open();
    await finishedHoldingResult(ledger);
    await s.results.write({ ...payload, stdout: "the file that was written first\n" });
    await recoverLedger({
      ledger,
      results: s.results,
      pcId: "PC1",
      now: () => T0,
      log: silentLogger(),
    });
    expect(await s.results.count()).toBe(1);
    const file = join(s.results.dir, `${payload.result_id}.json`);
    expect(JSON.parse(await readFile(file, "utf8")).stdout).toBe(
      "the file that was written first\n",
    );
    expect(ledger.heldResults()).toEqual([]);
  });
});
