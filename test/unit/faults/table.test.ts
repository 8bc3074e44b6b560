import { describe, expect, it } from "vitest";
import { parseRunnerArgs } from "../../../faults/args.js";
import { nodeConfig } from "../../../faults/cluster.js";
import {
  formatDetails,
  formatMs,
  formatTable,
  type ScenarioRow,
  summarizeFaults,
} from "../../../faults/table.js";

const row = (over: Partial<ScenarioRow> = {}): ScenarioRow => ({
  scenario: "broker-sigkill-mid-command",
  seed: 1,
  faults: ["broker-kill n1"],
  sent: 6,
  executed: 6,
  received: 6,
  duplicates: 0,
  lost: 0,
  orphans: 0,
  recoverMs: 4_170,
  durationMs: 16_800,
  broken: [],
  notes: [],
  ...over,
});

describe("the faults table", () => {
  it("prints one aligned row per run with its verdict", () => {
    const text = formatTable([row(), row({ scenario: "x", lost: 2, broken: ["x: no result"] })]);
    const lines = text.split("\n");
    expect(lines[0]).toMatch(
      /^scenario\s+faults\s+sent\s+executed\s+results\s+dups\s+lost\s+orphans\s+recover\s+took\s+verdict$/,
    );
    expect(lines[2]).toMatch(
      /^broker-sigkill-mid-command\s+broker-kill n1\s+6\s+6\s+6\s+0\s+0\s+0\s+4\.17s\s+16\.8s\s+ok$/,
    );
    expect(lines[3]).toMatch(/^x\s+.*\s2\s+0\s+4\.17s\s+16\.8s\s+BROKEN$/);
    expect(lines[2]!.indexOf("broker-kill")).toBe(lines[0]!.indexOf("faults"));
  });

  it("summarizes repeated faults and formats durations", () => {
    expect(summarizeFaults(["a", "b", "a"])).toBe("a×2, b");
    expect(summarizeFaults([])).toBe("-");
    expect(formatMs(null)).toBe("-");
    expect(formatMs(1_234)).toBe("1.23s");
    expect(formatMs(61_234)).toBe("61.2s");
  });

  it("lists broken promises and notes under the table", () => {
    expect(formatDetails([row()])).toBe("");
    expect(formatDetails([row({ broken: ["r: no result"], notes: ["tmpfs"] })])).toBe(
      "broker-sigkill-mid-command (seed 1):\n  BROKEN: r: no result\n  note: tmpfs",
    );
  });
});

describe("runner arguments", () => {
  it("takes seed, repeat and a comma-separated or repeated --only", () => {
    const a = parseRunnerArgs(["--seed", "5", "--repeat", "3", "--only", "a,b", "--only", "c"], 9);
    expect(a).toMatchObject({ seed: 5, repeat: 3, only: ["a", "b", "c"], fast: false });
    expect(parseRunnerArgs([], 9)).toMatchObject({ seed: 9, repeat: 1, only: [], keepLogs: false });
    expect(parseRunnerArgs(["--keep-logs"], 9).keepLogs).toBe(true);
  });

  it("refuses a seed that is not an integer", () => {
    expect(() => parseRunnerArgs(["--seed", "x"], 1)).toThrow(/--seed must be an integer/);
  });
});

describe("cluster node config", () => {
  it("routes to the other nodes, hides node URLs from clients, enables monitoring", () => {
    const text = nodeConfig({
      name: "n1",
      clusterPort: 6001,
      routePorts: [6002, 6003],
      httpPort: 8001,
      lameDuckMs: 5_000,
    });
    expect(text).toContain('server_name: "n1"');
    expect(text).toContain('http: "127.0.0.1:8001"');
    expect(text).toContain('listen: "127.0.0.1:6001"');
    expect(text).toContain('"nats-route://127.0.0.1:6002"');
    expect(text).toContain('"nats-route://127.0.0.1:6003"');
    expect(text).toContain("no_advertise: true");
    // nats-server 2.9 refuses a lame duck duration under 30 s.
    expect(text).toContain('lame_duck_duration: "30s"');
  });
});
