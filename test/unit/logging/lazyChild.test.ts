import { Writable } from "node:stream";
import { pino } from "pino";
import { describe, expect, it, vi } from "vitest";
import { lazyChild } from "../../../src/services/logging/lazyChild.js";
import { loggerOptions } from "../../../src/services/logging/logger.js";

function capture(level: "info" | "warn") {
  const lines: Record<string, unknown>[] = [];
  const out = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return { log: pino(loggerOptions(level), out), lines };
}

describe("lazyChild", () => {
  it("writes enabled lines with the bindings, like a child", async () => {
    const { log, lines } = capture("info");
    lazyChild(log, { request_id: "r-1", token: "secret" }).info({ exit_code: 0 }, "done");
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ request_id: "r-1", exit_code: 0, msg: "done", level: "info" });
    expect(lines[0]?.token).toBe("[redacted]");
  });

  it("makes no child while only disabled levels are written", () => {
    const { log, lines } = capture("warn");
    const child = vi.spyOn(log, "child");
    const lazy = lazyChild(log, { request_id: "r-1" });
    lazy.info("launched");
    lazy.debug("spawned");
    expect(child).not.toHaveBeenCalled();
    lazy.warn("slow");
    lazy.error("failed");
    expect(child).toHaveBeenCalledTimes(1);
    expect(lines.map((l) => l.msg)).toEqual(["slow", "failed"]);
  });
});
