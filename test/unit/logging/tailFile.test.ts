import { appendFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readTail } from "../../../src/services/logging/tailFile.js";
import {
  buildLogsReply,
  findLogFile,
  LOGS_REPLY_MAX_BYTES,
} from "../../../src/services/responders/logsFetch.js";
import { tempDir } from "../../helpers/tmp.js";

function fileWith(text: string | Buffer): string {
  const file = join(tempDir(), "agent.2026-05-16.log");
  writeFileSync(file, text);
  return file;
}

const numbered = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => `line ${from + i}`);

async function tailText(file: string, lines: number, maxBytes = LOGS_REPLY_MAX_BYTES) {
  return (await readTail(file, lines, maxBytes)).toString("utf8");
}

describe("readTail", () => {
  it("returns the last N lines with a trailing newline", async () => {
    const file = fileWith(`${numbered(1, 20).join("\n")}\n`);
    expect(await tailText(file, 3)).toBe("line 18\nline 19\nline 20\n");
  });

  it("adds the newline an unfinished last line lacks", async () => {
    const file = fileWith("a\nb\nc");
    expect(await tailText(file, 2)).toBe("b\nc\n");
  });

  it("gives the whole file when it has fewer lines, and nothing for an empty file", async () => {
    expect(await tailText(fileWith("only\n"), 500)).toBe("only\n");
    expect(await tailText(fileWith(""), 500)).toBe("");
    expect(await tailText(fileWith("x\n"), 0)).toBe("");
  });

  it("keeps empty lines as lines", async () => {
    expect(await tailText(fileWith("a\n\n\nb\n"), 3)).toBe("\n\nb\n");
  });

  it("finds lines across many read chunks", async () => {
    const all = numbered(1, 30_000);
    const file = fileWith(`${all.join("\n")}\n`);
    expect(await tailText(file, 20_000)).toBe(`${all.slice(-20_000).join("\n")}\n`);
  });

  it("reads only the end of a file too large to read whole", async () => {
    // 8 GiB, sparse: larger than any Buffer, so reading it whole would fail.
    const file = fileWith("");
    truncateSync(file, 8 * 1024 ** 3);
    appendFileSync(file, `\n${numbered(1, 10).join("\n")}\n`);
    expect(await tailText(file, 5)).toBe(`${numbered(6, 10).join("\n")}\n`);
    const all = await readTail(file, 500, LOGS_REPLY_MAX_BYTES);
    expect(all.length).toBe(LOGS_REPLY_MAX_BYTES);
  });

  it("cuts from the front to the byte cap at a character boundary", async () => {
    // "€" is 3 bytes: a cap of 10 bytes cannot start inside one.
    const file = fileWith("€€€€€€€€\n");
    const out = await readTail(file, 5, 10);
    expect(out.length).toBeLessThanOrEqual(10);
    expect(out.toString("utf8")).toBe("€€€\n");
    expect(new TextDecoder("utf-8", { fatal: true }).decode(out)).toBe("€€€\n");
  });
});

describe("findLogFile", () => {
  it("takes the newest dated file by name, else log.path, else none", async () => {
    const dir = tempDir();
    const path = join(dir, "agent.log");
    expect(await findLogFile(path)).toBeNull();
    writeFileSync(path, "plain\n");
    expect(await findLogFile(path)).toBe(path);
    for (const n of ["agent.2026-05-09.log", "agent.2026-05-16.log", "agent.2026-05-10.log"]) {
      writeFileSync(join(dir, n), `${n}\n`);
    }
    writeFileSync(join(dir, "agent.2026-12-31.txt"), "foreign\n");
    expect(await findLogFile(path)).toBe(join(dir, "agent.2026-05-16.log"));
  });
});

describe("buildLogsReply", () => {
  const text = async (r: Parameters<typeof buildLogsReply>[0]) =>
    Buffer.from(await buildLogsReply(r)).toString("utf8");

  it("says so when logging to stdout only", async () => {
    const path = join(tempDir(), "agent.log");
    writeFileSync(path, "x\n");
    expect(await text({ logPath: path, keepDays: 0, tailLines: 5, maxPayload: 1 << 20 })).toBe(
      "logs.fetch: logging to stdout only",
    );
  });

  it("names the reason when there is no file", async () => {
    const path = join(tempDir(), "agent.log");
    expect(await text({ logPath: path, keepDays: 3, tailLines: 5, maxPayload: 1 << 20 })).toBe(
      `logs.fetch: no log file at ${path}`,
    );
  });

  it("stays under max_payload − 1024 when that is below 800 KiB", async () => {
    const dir = tempDir();
    const line = "x".repeat(99);
    writeFileSync(join(dir, "agent.2026-05-16.log"), `${line}\n`.repeat(2_000));
    const body = await buildLogsReply({
      logPath: join(dir, "agent.log"),
      keepDays: 3,
      tailLines: 500,
      maxPayload: 8_192,
    });
    expect(body.length).toBe(8_192 - 1_024);
    expect(Buffer.from(body).toString("utf8").endsWith(`${line}\n`)).toBe(true);
  });
});
