import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { HOT_PATH_V8_FLAGS, optimiseSoonerOnce } from "../../../src/services/perf/tiering.js";
import { captureLog } from "../../helpers/captureLog.js";
import { tempDir } from "../../helpers/tmp.js";

// A function of a few dozen bytecodes called 200 times, as a command-path function is over a
// few hundred commands; then whether TurboFan optimised it (%GetOptimizationStatus bit 4).
const PROBE = `
import { setFlagsFromString } from "node:v8";
for (const flag of JSON.parse(process.argv[2])) setFlagsFromString(flag);
function work(o) {
  let s = 0;
  for (const k of Object.keys(o)) s += String(o[k]).length;
  return { s, t: JSON.stringify(o).length };
}
for (let i = 0; i < 200; i++) { work({ a: i, b: "x" + i, c: [i, i + 1] }); await null; }
%WaitForBackgroundOptimization(); // a compile under way lands, however loaded the machine
work({ a: 0, b: "y", c: [] });
process.stdout.write(String((%GetOptimizationStatus(work) & 16) !== 0));
`;

function optimisedAfter200Calls(flagsSetAtRunTime: readonly string[]): boolean {
  const script = join(tempDir("tiering-"), "probe.mjs");
  writeFileSync(script, PROBE);
  const out = execFileSync(
    process.execPath,
    ["--allow-natives-syntax", script, JSON.stringify(flagsSetAtRunTime)],
    { encoding: "utf8", timeout: 20_000 },
  );
  return out === "true";
}

describe("V8 optimises the command path sooner once commands arrive", () => {
  it("the flags, set while the process runs, make V8 optimise a function after 200 calls where its defaults do not", () => {
    expect(optimisedAfter200Calls([])).toBe(false);
    expect(optimisedAfter200Calls(HOT_PATH_V8_FLAGS)).toBe(true);
  });

  it("switches once, on the first call, and says so in one log line", () => {
    const set: string[] = [];
    const captured = captureLog();
    const optimiseSooner = optimiseSoonerOnce(captured.log, (f) => set.push(f));
    expect(set).toEqual([]);
    optimiseSooner();
    optimiseSooner();
    optimiseSooner();
    expect(set).toEqual([...HOT_PATH_V8_FLAGS]);
    expect(captured.at(30, /V8 now optimises/)).toHaveLength(1);
  });

  it("a refused flag is logged as a warning and the agent goes on", () => {
    const captured = captureLog();
    const optimiseSooner = optimiseSoonerOnce(captured.log, () => {
      throw new Error("frozen flags");
    });
    expect(() => optimiseSooner()).not.toThrow();
    expect(captured.at(40, /V8 flags not changed/)).toHaveLength(1);
  });
});
