// Throughput and memory of the admission point: `npx tsx bench/dedup.bench.ts`.
// 1. dedupBy alone, with an in-memory gate shaped like the ledger's index (a Map bounded at
//    10 000 entries, oldest dropped first), over 1 M messages from two merged sources whose ids
//    overlap (every id arrives live and again by replay). Floor: 200 000 messages/s; the heap
//    after 1 M messages must stay near the heap at the cap.
// 2. The durable ledger behind the same operator: admissions per second to disk (group-committed
//    fdatasync'd journal).

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import v8 from "node:v8";
import vm from "node:vm";
import { merge, Subject } from "rxjs";
import { type DedupGate, dedupBy, ledgerGate } from "../src/services/commands/dedup.js";
import { Ledger } from "../src/services/commands/ledger.js";
import { fingerprintOf } from "../src/services/commands/ledgerRecord.js";
import { silentLogger } from "../src/services/logging/logger.js";
import { systemClock } from "../src/services/time/clock.js";

const FLOOR_MSGS_PER_S = 200_000;
const MESSAGES = 1_000_000;
const CAP = 10_000;
const BATCH = 1_000;
const DURABLE_ADMISSIONS = 2_000;

interface Msg {
  requestId: string;
  source: "live" | "replay";
}

v8.setFlagsFromString("--expose-gc");
const gc = (globalThis.gc ?? vm.runInNewContext("gc")) as () => void;

function heapMiB(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

function boundedMemoryGate(cap: number): DedupGate<Msg> & { size: () => number } {
  const seen = new Set<string>();
  // Insertion order in a ring: deleting the oldest key of a Map and asking it for its first key
  // again costs a walk over V8's deleted slots, so the order is kept apart.
  const order: string[] = new Array(cap);
  let oldest = 0;
  return {
    admit(m) {
      if (seen.has(m.requestId)) return Promise.resolve("duplicate");
      if (seen.size === cap) seen.delete(order[oldest]!);
      seen.add(m.requestId);
      order[oldest] = m.requestId;
      oldest = (oldest + 1) % cap;
      return Promise.resolve("admitted");
    },
    size: () => seen.size,
  };
}

/**
 * Pushes `count` messages through a fresh pipeline: the live source sends id n, the replay
 * source sends id n - 300 (the same commands, a little later). Yields to the event loop after
 * every batch, as sockets do, so decisions keep up and nothing overflows.
 */
async function runOperator(
  gate: DedupGate<Msg>,
  count: number,
): Promise<{ admitted: number; duplicates: number; errors: number; ms: number }> {
  const live = new Subject<Msg>();
  const replay = new Subject<Msg>();
  let admitted = 0;
  let duplicates = 0;
  let errors = 0;
  const done = new Promise<void>((resolve) => {
    merge(live, replay)
      .pipe(
        dedupBy(gate, {
          concurrency: 64,
          onError: () => errors++,
          onDuplicate: () => duplicates++,
        }),
      )
      .subscribe({ next: () => admitted++, complete: resolve });
  });
  const t0 = performance.now();
  let n = 0;
  while (n < count) {
    for (let i = 0; i < BATCH && n < count; i += 2, n += 2) {
      live.next({ requestId: `req-${n / 2}`, source: "live" });
      replay.next({ requestId: `req-${Math.max(0, n / 2 - 300)}`, source: "replay" });
    }
    await new Promise((r) => setImmediate(r));
  }
  live.complete();
  replay.complete();
  await done;
  return { admitted, duplicates, errors, ms: performance.now() - t0 };
}

async function benchOperator(): Promise<boolean> {
  const gate = boundedMemoryGate(CAP);
  // Warm up the JIT and fill the gate to its cap before the heap baseline.
  await runOperator(gate, 100_000);
  const before = heapMiB();
  const r = await runOperator(gate, MESSAGES);
  const after = heapMiB();
  const rate = (MESSAGES / r.ms) * 1000;
  console.log(
    `dedup operator: ${MESSAGES} msgs in ${r.ms.toFixed(0)} ms = ${Math.round(rate)} msgs/s (floor ${FLOOR_MSGS_PER_S}, ratio ${(rate / FLOOR_MSGS_PER_S).toFixed(2)})`,
  );
  console.log(
    `dedup operator: admitted ${r.admitted}, duplicates ${r.duplicates}, refused ${r.errors}, gate entries ${gate.size()} (cap ${CAP})`,
  );
  console.log(
    `dedup operator: heap before ${before.toFixed(1)} MiB, after ${after.toFixed(1)} MiB, growth ${(after - before).toFixed(1)} MiB`,
  );
  const flat = after - before < 5;
  return rate >= FLOOR_MSGS_PER_S && flat && r.errors === 0;
}

async function benchLedger(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), "dedup-bench-"));
  try {
    const ledger = await Ledger.open(join(root, "ledger"), {
      clock: systemClock,
      log: silentLogger(),
    });
    const gate = ledgerGate(ledger, (m: Msg) => ({
      requestId: m.requestId,
      fingerprint: fingerprintOf(m.requestId),
      source: m.source,
      subject: "commands.all",
      receivedAt: Date.now(),
    }));
    // Admissions are decided in memory and group-committed: the clock stops once all are on disk.
    const t0 = performance.now();
    const r = await runOperator(gate, DURABLE_ADMISSIONS * 2);
    await ledger.close();
    const ms = performance.now() - t0;
    console.log(
      `durable ledger: ${r.admitted} admissions (+${r.duplicates} duplicates) in ${ms.toFixed(0)} ms = ${Math.round((r.admitted / ms) * 1000)} admissions/s to disk`,
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

const ok = await benchOperator();
await benchLedger();
console.log(`dedup bench: ${ok ? "ok" : "BELOW FLOOR"}`);
if (!ok) process.exitCode = 1;
