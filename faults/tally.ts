// Exact accounting of one scenario run: what was expected of each (request_id, pc_id) pair
// against what the run log (executions) and the RESULTS stream (durable truth) say happened.

/** What a scenario promises for one command on one agent. */
export interface Expectation {
  requestId: string;
  pcId: string;
  /** `once`: run exactly once, one result. `skipped`: never run, one result (a synthetic code). */
  kind: "once" | "skipped";
  /** When set, the one result must carry this exit code. */
  exitCode?: number;
}

/** One line of the run log: a script of `requestId` started on `pcId`. */
export interface RunLine {
  requestId: string;
  pcId: string;
}

/** One ExecResult message held by RESULTS (or held before the store was wiped). */
export interface ResultRecord {
  requestId: string;
  pcId: string;
  resultId: string;
  exitCode: number;
}

export interface Tally {
  /** Pairs a promise was made for. */
  expected: number;
  /** Script starts of the scenario's commands. */
  executed: number;
  /** Result messages for the scenario's commands. */
  received: number;
  /** Executions and results beyond one per pair (and any run of a pair that must be skipped). */
  duplicates: number;
  /** Expected pairs without any result. */
  lost: number;
  /** Each broken promise, in words (at most `maxProblems`). */
  problems: string[];
}

const pairKey = (requestId: string, pcId: string) => `${requestId}\u0000${pcId}`;

/**
 * Counts runs and results of the request ids in `sent` only: a scenario shares nothing with
 * another run, but the agent may publish results for requests a scenario never made (none today).
 */
export function tally(
  expectations: readonly Expectation[],
  sent: ReadonlySet<string>,
  runs: readonly RunLine[],
  results: readonly ResultRecord[],
  maxProblems = 10,
): Tally {
  const runCount = new Map<string, number>();
  const resultsOf = new Map<string, ResultRecord[]>();
  let executed = 0;
  let received = 0;
  for (const r of runs) {
    if (!sent.has(r.requestId)) continue;
    executed++;
    const k = pairKey(r.requestId, r.pcId);
    runCount.set(k, (runCount.get(k) ?? 0) + 1);
  }
  for (const r of results) {
    if (!sent.has(r.requestId)) continue;
    received++;
    const k = pairKey(r.requestId, r.pcId);
    const list = resultsOf.get(k);
    if (list) list.push(r);
    else resultsOf.set(k, [r]);
  }

  const problems: string[] = [];
  const problem = (text: string) => {
    if (problems.length < maxProblems) problems.push(text);
    else if (problems.length === maxProblems) problems.push("…");
  };
  let duplicates = 0;
  let lost = 0;
  const expectedKeys = new Set<string>();
  for (const e of expectations) {
    const k = pairKey(e.requestId, e.pcId);
    expectedKeys.add(k);
    const ran = runCount.get(k) ?? 0;
    const got = resultsOf.get(k) ?? [];
    const what = `${e.requestId} on ${e.pcId}`;
    if (e.kind === "once") {
      if (ran !== 1) problem(`${what} ran ${ran} times`);
      duplicates += Math.max(0, ran - 1);
    } else {
      if (ran > 0) problem(`${what} ran ${ran} times but must be skipped`);
      duplicates += ran;
    }
    if (got.length === 0) {
      lost++;
      problem(`${what}: no result`);
    } else {
      if (got.length > 1) problem(`${what}: ${got.length} results`);
      duplicates += got.length - 1;
      const code = got[0]?.exitCode;
      if (e.exitCode !== undefined && code !== e.exitCode)
        problem(`${what}: exit ${code}, expected ${e.exitCode}`);
    }
  }
  for (const [k, n] of runCount) {
    if (expectedKeys.has(k)) continue;
    duplicates += n;
    problem(`${k.replace("\u0000", " on ")} ran ${n} times without being expected`);
  }
  return {
    expected: expectations.length,
    executed,
    received,
    duplicates,
    lost,
    problems,
  };
}

/** Parses run-log text: one `<request_id> <pc_id>` per line; blank or torn lines are skipped. */
export function parseRunLog(text: string): RunLine[] {
  const out: RunLine[] = [];
  for (const line of text.split("\n")) {
    const parts = line.trim().split(" ");
    if (parts.length !== 2 || !parts[0] || !parts[1]) continue;
    out.push({ requestId: parts[0], pcId: parts[1] });
  }
  return out;
}
