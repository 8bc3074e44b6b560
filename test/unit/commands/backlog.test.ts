import { describe, expect, it } from "vitest";
import {
  AdmissionBacklog,
  type BackloggedCommand,
} from "../../../src/services/commands/backlog.js";

import type { AdmittedCommand } from "../../../src/services/commands/pipeline.js";
import { sampleCommand } from "../../helpers/commands.js";

const admitted = (requestId: string, execId: string | null = null): AdmittedCommand => ({
  requestId,
  command: sampleCommand({ requestId, execId }),
  source: "live",
  subject: "commands.all",
  receivedAt: 0,
});

describe("admission backlog", () => {
  it("dispatches at once below the cap, then holds in order and releases as actors end", () => {
    const out: BackloggedCommand[] = [];
    const b = new AdmissionBacklog(2, (c) => out.push(c));
    b.push(admitted("a"), 0);
    b.push(admitted("b"), 1);
    b.push(admitted("c"), 2);
    b.push(admitted("d"), 2);
    expect(out.map((c) => c.admitted.requestId)).toEqual(["a", "b"]);
    expect(b.size).toBe(2);
    b.release(1);
    expect(out.map((c) => c.admitted.requestId)).toEqual(["a", "b", "c"]);
    b.release(0);
    expect(out.map((c) => c.admitted.requestId)).toEqual(["a", "b", "c", "d"]);
  });

  it("keeps arrival order: a new command does not overtake waiting ones", () => {
    const out: string[] = [];
    const b = new AdmissionBacklog(1, (c) => out.push(c.admitted.requestId));
    b.push(admitted("a"), 1);
    b.push(admitted("b"), 0); // a slot is free, but "a" waits first
    expect(out).toEqual([]);
    b.release(0);
    expect(out).toEqual(["a"]);
  });

  it("follows a cap that changes (the concurrency budget set by agent_config)", () => {
    const out: string[] = [];
    let cap = 1;
    const b = new AdmissionBacklog(
      () => cap,
      (c) => out.push(c.admitted.requestId),
    );
    b.push(admitted("a"), 0);
    b.push(admitted("b"), 1);
    b.push(admitted("c"), 1);
    expect(out).toEqual(["a"]);
    cap = 3;
    b.release(1);
    expect(out).toEqual(["a", "b", "c"]);
  });

  it("remembers a kill for a waiting command", () => {
    const out: BackloggedCommand[] = [];
    const b = new AdmissionBacklog(1, (c) => out.push(c));
    b.push(admitted("a", "e-1"), 1);
    b.push(admitted("b", "e-2"), 1);
    b.kill("e-1");
    b.release(0);
    b.release(0);
    expect(out.map((c) => [c.admitted.requestId, c.killed])).toEqual([
      ["a", true],
      ["b", false],
    ]);
  });
});
