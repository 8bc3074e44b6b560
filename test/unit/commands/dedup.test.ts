import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { firstValueFrom, map, merge, Observable, Subject, tap, toArray } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import {
  type DedupGate,
  DedupOverflowError,
  dedupBy,
  type GateOutcome,
  ledgerGate,
} from "../../../src/services/commands/dedup.js";
import { Ledger } from "../../../src/services/commands/ledger.js";
import { fingerprintOf } from "../../../src/services/commands/ledgerRecord.js";
import { silentLogger } from "../../../src/services/logging/logger.js";
import { systemClock } from "../../../src/services/time/clock.js";

interface Msg {
  id: string;
  source: "live" | "replay";
  seq: number;
}

/** A gate that remembers keys in a Set, answering after `delay(item)` ms. */
function setGate<T>(key: (item: T) => string, delay: (item: T) => number = () => 0): DedupGate<T> {
  const seen = new Set<string>();
  return {
    admit: (item) => {
      // Decided at call time, like the ledger's synchronous check; only the answer is late.
      const outcome: GateOutcome = seen.has(key(item)) ? "duplicate" : "admitted";
      seen.add(key(item));
      return new Promise((resolve) => setTimeout(() => resolve(outcome), delay(item)));
    },
  };
}

const unexpected = (err: unknown) => {
  throw err;
};

/** Emits `items` one by one, yielding to the event loop after every `every` of them. */
function trickle<T>(items: T[], every: number): Observable<T> {
  return new Observable<T>((sub) => {
    let stopped = false;
    void (async () => {
      for (let i = 0; i < items.length && !stopped; i++) {
        sub.next(items[i]!);
        if (i % every === 0) await new Promise((r) => setImmediate(r));
      }
      sub.complete();
    })();
    return () => {
      stopped = true;
    };
  });
}

let tmp: string | undefined;
afterEach(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
  tmp = undefined;
});

describe("dedupBy", () => {
  it("admits each request_id once across merged live and replay streams, through the ledger", async () => {
    tmp = await mkdtemp(join(tmpdir(), "dedup-test-"));
    const ledger = await Ledger.open(join(tmp, "ledger"), {
      clock: systemClock,
      log: silentLogger(),
    });
    const live = Array.from({ length: 120 }, (_, i) => ({ id: `r${i}`, source: "live" as const }));
    // Replay walks down from r179 to r60, overlapping live (r60..r119) from the other end, then
    // repeats some of its own.
    const replay = Array.from({ length: 160 }, (_, i) => ({
      id: `r${179 - (i % 120)}`,
      source: "replay" as const,
    }));
    let seq = 0;
    const arrivals: Msg[] = [];
    const duplicates: Msg[] = [];
    const admitted = await firstValueFrom(
      merge(trickle(live, 2), trickle(replay, 3)).pipe(
        map((m) => ({ ...m, seq: seq++ })),
        tap((m) => arrivals.push(m)),
        dedupBy(
          ledgerGate(ledger, (m: Msg) => ({
            requestId: m.id,
            fingerprint: fingerprintOf(m.id),
            source: m.source,
            subject: "commands.all",
            receivedAt: Date.now(),
          })),
          { concurrency: 8, onError: unexpected, onDuplicate: (m) => duplicates.push(m) },
        ),
        toArray(),
      ),
    );
    await ledger.close();

    const ids = admitted.map((m) => m.id);
    expect(new Set(ids).size).toBe(180);
    expect(ids).toHaveLength(180);
    // Both sources contributed, so the overlap was really contested.
    expect(admitted.some((m) => m.source === "replay" && Number(m.id.slice(1)) < 120)).toBe(true);
    expect(admitted.some((m) => m.source === "live" && Number(m.id.slice(1)) >= 60)).toBe(true);
    // The first arrival of each id is the one admitted, and the output keeps arrival order.
    const firstArrivals = arrivals.filter((m, i) => arrivals.findIndex((a) => a.id === m.id) === i);
    expect(admitted.map((m) => m.seq)).toEqual(firstArrivals.map((m) => m.seq));
    expect(duplicates).toHaveLength(arrivals.length - 180);
    expect(ledger.size).toBe(180);
  });

  it("keeps arrival order when decisions finish out of order", async () => {
    const items = Array.from({ length: 60 }, (_, i) => i);
    // Later items decide faster than earlier ones.
    const gate = setGate<number>(String, (i) => (60 - i) % 7);
    const out = await firstValueFrom(
      trickle([...items, 5, 17, 42], 10).pipe(
        dedupBy(gate, { concurrency: 16, onError: unexpected }),
        toArray(),
      ),
    );
    expect(out).toEqual(items);
  });

  it("drops an item whose decision fails, reports it, and keeps going", async () => {
    const failures: Array<{ item: number; message: string }> = [];
    const gate: DedupGate<number> = {
      admit: (i) => {
        if (i === 5) throw new Error("sync boom 5");
        if (i === 3 || i === 7) return Promise.reject(new Error(`disk full ${i}`));
        return Promise.resolve("admitted");
      },
    };
    const out = await firstValueFrom(
      trickle(
        Array.from({ length: 10 }, (_, i) => i),
        2,
      ).pipe(
        dedupBy(gate, {
          concurrency: 4,
          onError: (err, item) => failures.push({ item, message: (err as Error).message }),
        }),
        toArray(),
      ),
    );
    expect(out).toEqual([0, 1, 2, 4, 6, 8, 9]);
    expect(failures).toEqual([
      { item: 3, message: "disk full 3" },
      { item: 5, message: "sync boom 5" },
      { item: 7, message: "disk full 7" },
    ]);
  });

  it("never has more decisions in flight than its concurrency", async () => {
    let inFlight = 0;
    let peak = 0;
    const gate: DedupGate<number> = {
      admit: async () => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((r) => setTimeout(r, 1));
        inFlight--;
        return "admitted";
      },
    };
    const out = await firstValueFrom(
      trickle(
        Array.from({ length: 200 }, (_, i) => i),
        50,
      ).pipe(dedupBy(gate, { concurrency: 4, onError: unexpected }), toArray()),
    );
    expect(out).toHaveLength(200);
    expect(peak).toBe(4);
  });

  it("refuses items beyond maxPending instead of buffering without bound", async () => {
    const release: Array<() => void> = [];
    const gate: DedupGate<number> = {
      admit: () => new Promise((resolve) => release.push(() => resolve("admitted"))),
    };
    const refused: Array<{ item: number; err: unknown }> = [];
    const input = new Subject<number>();
    const done = firstValueFrom(
      input.pipe(
        dedupBy(gate, {
          concurrency: 2,
          maxPending: 3,
          onError: (err, item) => refused.push({ item, err }),
        }),
        toArray(),
      ),
    );
    for (let i = 0; i < 5; i++) input.next(i);
    expect(refused.map((r) => r.item)).toEqual([3, 4]);
    expect(refused[0]!.err).toBeInstanceOf(DedupOverflowError);
    expect(release).toHaveLength(2);
    input.complete();
    while (release.length > 0) {
      release.shift()!();
      await new Promise((r) => setImmediate(r));
    }
    expect(await done).toEqual([0, 1, 2]);
  });

  it("emits items admitted before the source failed, then passes the failure on", async () => {
    const input = new Subject<string>();
    const seen: string[] = [];
    const ended = new Promise<unknown>((resolve) => {
      input
        .pipe(
          dedupBy(
            setGate<string>(
              (s) => s,
              () => 5,
            ),
            { onError: unexpected },
          ),
        )
        .subscribe({ next: (s) => seen.push(s), error: resolve });
    });
    input.next("a");
    input.next("b");
    input.next("a");
    input.error(new Error("subscription lost"));
    expect(((await ended) as Error).message).toBe("subscription lost");
    expect(seen).toEqual(["a", "b"]);
  });

  it("stops deciding once unsubscribed", async () => {
    const release: Array<() => void> = [];
    const gate: DedupGate<number> = {
      admit: () => new Promise((resolve) => release.push(() => resolve("admitted"))),
    };
    const input = new Subject<number>();
    const seen: number[] = [];
    const sub = input
      .pipe(dedupBy(gate, { concurrency: 1, onError: unexpected }))
      .subscribe((n) => seen.push(n));
    for (let i = 0; i < 5; i++) input.next(i);
    sub.unsubscribe();
    release[0]!();
    // The settled decision runs on the microtask queue, drained before setImmediate fires.
    await new Promise((r) => setImmediate(r));
    expect(release).toHaveLength(1);
    expect(seen).toEqual([]);
  });
});
