import type { Command } from "../../src/services/wire/types.js";

/** A valid `sh -c true` command for tests; override what the test is about. */
export function sampleCommand(over: Partial<Command> = {}): Command {
  return {
    id: "m",
    version: "1",
    requestId: "r-1",
    execId: null,
    shell: "sh",
    script: "true",
    timeoutSecs: 5,
    jitterSecs: null,
    runAs: "system",
    staleness: { mode: "cached" },
    ...over,
  };
}
