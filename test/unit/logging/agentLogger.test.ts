import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type AgentLogger, createAgentLogger } from "../../../src/services/logging/agentLogger.js";
import { createLogger } from "../../../src/services/logging/logger.js";
import type { Clock } from "../../../src/services/time/clock.js";
import { tempDir } from "../../helpers/tmp.js";

type Line = Record<string, unknown> & { msg: string; level: string };

class FakeClock implements Clock {
  mono = 0;
  constructor(public wall: number) {}
  now(): number {
    return this.wall;
  }
  monotonic(): number {
    return this.mono;
  }
}

function capture() {
  const text: string[] = [];
  return {
    stream: { write: (s: string) => void text.push(s) },
    lines: (): Line[] => text.join("").trim().split("\n").filter(Boolean).map(parse),
  };
}

function parse(s: string): Line {
  return JSON.parse(s) as Line;
}

function fileLines(file: string): Line[] {
  return readFileSync(file, "utf8").trim().split("\n").filter(Boolean).map(parse);
}

/** Lets the logger's deferred notices (pruning, fallback) be written. */
const settle = () => new Promise<void>((r) => setTimeout(r, 0));

const open: AgentLogger[] = [];
afterEach(() => {
  for (const l of open.splice(0)) l.close();
});

function start(opts: Parameters<typeof createAgentLogger>[0]): AgentLogger {
  const l = createAgentLogger(opts);
  open.push(l);
  return l;
}

describe("createAgentLogger with a daily file", () => {
  it("writes to agent.<UTC date>.log and switches files when the date changes", () => {
    const dir = tempDir();
    const clock = new FakeClock(Date.parse("2026-05-16T23:59:58.000Z"));
    const out = capture();
    const logger = start({
      level: "info",
      path: join(dir, "agent.log"),
      keepDays: 14,
      clock,
      stdout: out.stream,
    });
    const first = join(dir, "agent.2026-05-16.log");
    expect(logger.currentFile()).toBe(first);

    logger.log.info({ n: 1 }, "before midnight");
    clock.wall = Date.parse("2026-05-17T00:00:01.000Z");
    logger.log.info({ n: 2 }, "after midnight");

    const second = join(dir, "agent.2026-05-17.log");
    expect(logger.currentFile()).toBe(second);
    expect(fileLines(first).map((l) => l.msg)).toEqual(["before midnight"]);
    expect(fileLines(second).map((l) => l.msg)).toEqual(["after midnight"]);
    expect(fileLines(second)[0]).toMatchObject({ level: "info", n: 2 });
    // The plain `log.path` is never written: only the dated files.
    expect(existsSync(join(dir, "agent.log"))).toBe(false);
    // stdout gets every line too.
    expect(out.lines().map((l) => l.msg)).toEqual(["before midnight", "after midnight"]);
  });

  it("honours the level", () => {
    const dir = tempDir();
    const clock = new FakeClock(Date.parse("2026-05-16T10:00:00Z"));
    const logger = start({
      level: "warn",
      path: join(dir, "agent.log"),
      keepDays: 3,
      clock,
      stdout: capture().stream,
    });
    logger.log.info("quiet");
    logger.log.warn("loud");
    expect(fileLines(logger.currentFile()!).map((l) => l.msg)).toEqual(["loud"]);
  });

  it("deletes files older than keep_days at start and on the next date, leaving others", async () => {
    const dir = tempDir();
    const names = [
      "agent.2026-05-10.log",
      "agent.2026-05-13.log",
      "agent.2026-05-14.log",
      "agent.2026-05-15.log",
      "agent.log",
      "other.2026-05-01.log",
      "agent.2026-05-01.txt",
      "agent.notadate.log",
    ];
    for (const n of names) writeFileSync(join(dir, n), "old\n");
    const clock = new FakeClock(Date.parse("2026-05-16T08:00:00Z"));
    const out = capture();
    const logger = start({
      level: "info",
      path: join(dir, "agent.log"),
      keepDays: 3,
      clock,
      stdout: out.stream,
    });
    await settle();
    // keep_days 3 keeps three dated files: today's and the two days before.
    expect(readdirSync(dir).sort()).toEqual(
      [
        "agent.2026-05-14.log",
        "agent.2026-05-15.log",
        "agent.2026-05-16.log",
        "agent.log",
        "other.2026-05-01.log",
        "agent.2026-05-01.txt",
        "agent.notadate.log",
      ].sort(),
    );
    expect(out.lines().find((l) => l.msg === "old log files deleted")).toMatchObject({ count: 2 });

    clock.wall = Date.parse("2026-05-17T00:00:05Z");
    logger.log.info("next day");
    expect(existsSync(join(dir, "agent.2026-05-14.log"))).toBe(false);
    expect(existsSync(join(dir, "agent.2026-05-15.log"))).toBe(true);
    expect(existsSync(join(dir, "agent.2026-05-17.log"))).toBe(true);
  });

  it("creates a missing log folder", () => {
    const dir = join(tempDir(), "var", "log", "kanade");
    const clock = new FakeClock(Date.parse("2026-05-16T08:00:00Z"));
    const logger = start({
      level: "info",
      path: join(dir, "agent.log"),
      keepDays: 1,
      clock,
      stdout: capture().stream,
    });
    logger.log.info("hello");
    expect(fileLines(join(dir, "agent.2026-05-16.log"))[0]?.msg).toBe("hello");
  });
});

describe("createAgentLogger without a file", () => {
  it("keep_days 0 logs to stdout only", () => {
    const dir = tempDir();
    const out = capture();
    const logger = start({
      level: "info",
      path: join(dir, "agent.log"),
      keepDays: 0,
      clock: new FakeClock(Date.parse("2026-05-16T08:00:00Z")),
      stdout: out.stream,
    });
    logger.log.info({ x: 1 }, "to stdout");
    expect(logger.currentFile()).toBeNull();
    expect(readdirSync(dir)).toEqual([]);
    expect(out.lines()).toEqual([expect.objectContaining({ msg: "to stdout", x: 1 })]);
  });

  it("falls back to stdout with one error line when the folder cannot be made", () => {
    const root = tempDir();
    const blocker = join(root, "a-file");
    writeFileSync(blocker, "not a folder\n");
    const out = capture();
    const path = join(blocker, "logs", "agent.log");
    const logger = start({
      level: "info",
      path,
      keepDays: 14,
      clock: new FakeClock(Date.parse("2026-05-16T08:00:00Z")),
      stdout: out.stream,
    });
    logger.log.info("still logging");

    expect(logger.currentFile()).toBeNull();
    const lines = out.lines();
    const errors = lines.filter((l) => l.level === "error");
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      msg: "cannot write the log file; logging to stdout only",
      path: join(blocker, "logs", "agent.2026-05-16.log"),
      reason: expect.stringMatching(/ENOTDIR|EEXIST/),
    });
    expect(lines.at(-1)?.msg).toBe("still logging");
  });

  it("keeps logging to stdout when the next day's file cannot be opened", async () => {
    const dir = tempDir();
    const clock = new FakeClock(Date.parse("2026-05-16T23:00:00Z"));
    const out = capture();
    const logger = start({
      level: "info",
      path: join(dir, "agent.log"),
      keepDays: 5,
      clock,
      stdout: out.stream,
    });
    // A folder where tomorrow's file should be makes opening it fail.
    mkdirSync(join(dir, "agent.2026-05-17.log"));
    clock.wall = Date.parse("2026-05-17T01:00:00Z");
    logger.log.info("one");
    logger.log.info("two");
    await settle();
    expect(logger.currentFile()).toBeNull();
    const lines = out.lines();
    expect(lines.filter((l) => l.level === "error")).toHaveLength(1);
    expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(["one", "two"]));

    // Once the obstacle is gone, the file is tried again a minute later.
    rmdirSync(join(dir, "agent.2026-05-17.log"));
    clock.mono += 60_000;
    logger.log.info("three");
    expect(logger.currentFile()).toBe(join(dir, "agent.2026-05-17.log"));
    expect(fileLines(logger.currentFile()!).map((l) => l.msg)).toEqual(["three"]);
  });
});

describe("redaction", () => {
  it("never writes tokens, passwords, nkeys or seeds", () => {
    const dir = tempDir();
    const out = capture();
    const logger = start({
      level: "trace",
      path: join(dir, "agent.log"),
      keepDays: 1,
      clock: new FakeClock(Date.parse("2026-05-16T08:00:00Z")),
      stdout: out.stream,
    });
    logger.log.info({ token: "tok-SECRET-1", user: "bob" }, "top level");
    logger.log.info({ auth: { password: "pw-SECRET-2", token: "tok-SECRET-3" } }, "nested");
    logger.log.child({ nkey: "UNKEY-SECRET-4" }).warn({ seed: "SUSEED-SECRET-5" }, "child");

    const text = readFileSync(logger.currentFile()!, "utf8");
    expect(text).not.toMatch(/SECRET/);
    expect(out.lines().map((l) => JSON.stringify(l))).not.toContainEqual(
      expect.stringMatching(/SECRET/),
    );
    const [top, nested, child] = fileLines(logger.currentFile()!);
    expect(top).toMatchObject({ token: "[redacted]", user: "bob" });
    expect(nested).toMatchObject({ auth: { password: "[redacted]", token: "[redacted]" } });
    expect(child).toMatchObject({ nkey: "[redacted]", seed: "[redacted]" });
  });

  it("applies to the plain createLogger too", () => {
    const out = capture();
    createLogger({ destination: out.stream }).info({ password: "hunter2" }, "x");
    expect(out.lines()[0]).toMatchObject({ password: "[redacted]" });
  });
});
