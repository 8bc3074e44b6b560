// One table row per scenario run, as `npm run faults` prints it.

export interface ScenarioRow {
  scenario: string;
  seed: number;
  /** Faults in the order they were injected, e.g. `broker-kill`, `partition 3000ms`. */
  faults: string[];
  /** Command publishes, deliberate re-sends included. */
  sent: number;
  executed: number;
  received: number;
  duplicates: number;
  lost: number;
  orphans: number;
  /** From the last fault healed to the last expected result in RESULTS; null without a fault. */
  recoverMs: number | null;
  durationMs: number;
  /** Broken promises; empty when the run kept every one. */
  broken: string[];
  /** Observations worth reading that are not failures (e.g. which clock-jump mode ran). */
  notes: string[];
}

const HEADERS = [
  "scenario",
  "faults",
  "sent",
  "executed",
  "results",
  "dups",
  "lost",
  "orphans",
  "recover",
  "took",
  "verdict",
] as const;

/** `broker-kill, broker-kill` → `broker-kill×2`, keeping first-seen order. */
export function summarizeFaults(faults: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const f of faults) counts.set(f, (counts.get(f) ?? 0) + 1);
  if (counts.size === 0) return "-";
  return [...counts].map(([f, n]) => (n > 1 ? `${f}×${n}` : f)).join(", ");
}

export function formatMs(ms: number | null): string {
  if (ms === null) return "-";
  return ms < 10_000 ? `${(ms / 1000).toFixed(2)}s` : `${(ms / 1000).toFixed(1)}s`;
}

function cells(r: ScenarioRow): string[] {
  return [
    r.scenario,
    summarizeFaults(r.faults),
    String(r.sent),
    String(r.executed),
    String(r.received),
    String(r.duplicates),
    String(r.lost),
    String(r.orphans),
    formatMs(r.recoverMs),
    formatMs(r.durationMs),
    r.broken.length === 0 ? "ok" : "BROKEN",
  ];
}

/** A plain-text table, columns padded to their widest cell; numbers right-aligned. */
export function formatTable(rows: readonly ScenarioRow[]): string {
  const body = rows.map(cells);
  const widths = HEADERS.map((h, i) => Math.max(h.length, ...body.map((c) => c[i]?.length ?? 0)));
  const numeric = new Set([2, 3, 4, 5, 6, 7, 8, 9]);
  const line = (c: readonly string[]) =>
    c
      .map((v, i) => (numeric.has(i) ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  const sep = widths.map((w) => "-".repeat(w)).join("  ");
  return [line(HEADERS), sep, ...body.map(line)].join("\n");
}

/** The broken promises and notes under the table, one block per run that has any. */
export function formatDetails(rows: readonly ScenarioRow[]): string {
  const out: string[] = [];
  for (const r of rows) {
    if (r.broken.length === 0 && r.notes.length === 0) continue;
    out.push(`${r.scenario} (seed ${r.seed}):`);
    for (const b of r.broken) out.push(`  BROKEN: ${b}`);
    for (const n of r.notes) out.push(`  note: ${n}`);
  }
  return out.join("\n");
}
