import { describe, expect, it } from "vitest";
import { type Expectation, parseRunLog, type ResultRecord, tally } from "../../../faults/tally.js";

const once = (requestId: string, pcId = "pc-a", exitCode?: number): Expectation =>
  exitCode === undefined
    ? { requestId, pcId, kind: "once" }
    : { requestId, pcId, kind: "once", exitCode };
const result = (requestId: string, pcId = "pc-a", exitCode = 0): ResultRecord => ({
  requestId,
  pcId,
  resultId: `res-${requestId}-${Math.random()}`,
  exitCode,
});

describe("tally", () => {
  it("counts a clean run: each pair ran once with one result", () => {
    const t = tally(
      [once("r1"), once("r2")],
      new Set(["r1", "r2"]),
      parseRunLog("r1 pc-a\nr2 pc-a\n"),
      [result("r1"), result("r2")],
    );
    expect(t).toEqual({
      expected: 2,
      executed: 2,
      received: 2,
      duplicates: 0,
      lost: 0,
      problems: [],
    });
  });

  it("counts a second run and a second result as duplicates, a missing result as lost", () => {
    const t = tally(
      [once("r1"), once("r2")],
      new Set(["r1", "r2"]),
      parseRunLog("r1 pc-a\nr1 pc-a\n"),
      [result("r1"), result("r1")],
    );
    expect(t.duplicates).toBe(2);
    expect(t.lost).toBe(1);
    expect(t.problems).toEqual([
      "r1 on pc-a ran 2 times",
      "r1 on pc-a: 2 results",
      "r2 on pc-a ran 0 times",
      "r2 on pc-a: no result",
    ]);
  });

  it("keeps broadcast pairs apart and ignores requests the scenario did not send", () => {
    const t = tally(
      [once("b", "pc-a"), once("b", "pc-b")],
      new Set(["b"]),
      parseRunLog("b pc-a\nb pc-b\nother pc-a\n"),
      [result("b", "pc-a"), result("b", "pc-b"), result("other")],
    );
    expect(t).toMatchObject({ executed: 2, received: 2, duplicates: 0, lost: 0, problems: [] });
  });

  it("a skipped command must not run and must carry its exit code", () => {
    const skipped: Expectation = { requestId: "s", pcId: "pc-a", kind: "skipped", exitCode: 125 };
    expect(tally([skipped], new Set(["s"]), [], [result("s", "pc-a", 125)]).problems).toEqual([]);
    const ran = tally([skipped], new Set(["s"]), parseRunLog("s pc-a"), [result("s", "pc-a", 0)]);
    expect(ran.duplicates).toBe(1);
    expect(ran.problems).toEqual([
      "s on pc-a ran 1 times but must be skipped",
      "s on pc-a: exit 0, expected 125",
    ]);
  });

  it("flags a run on an agent no promise was made for", () => {
    const t = tally([once("r")], new Set(["r"]), parseRunLog("r pc-a\nr pc-z\n"), [result("r")]);
    expect(t.duplicates).toBe(1);
    expect(t.problems).toEqual(["r on pc-z ran 1 times without being expected"]);
  });

  it("bounds the problem list", () => {
    const exp = Array.from({ length: 30 }, (_, i) => once(`r${i}`));
    const t = tally(exp, new Set(exp.map((e) => e.requestId)), [], [], 5);
    expect(t.lost).toBe(30);
    expect(t.problems).toHaveLength(6);
    expect(t.problems.at(-1)).toBe("…");
  });

  it("parseRunLog skips blank and torn lines", () => {
    expect(parseRunLog("a pc\n\nhalf\nb pc-2\nc")).toEqual([
      { requestId: "a", pcId: "pc" },
      { requestId: "b", pcId: "pc-2" },
    ]);
  });
});
