import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  type CapturedStream,
  DEFAULT_CAPTURE_BYTES,
  renderCaptured,
  StreamCapture,
} from "../../../src/services/exec/capture.js";
import {
  failedToStartNote,
  killNote,
  remoteKillNote,
  STOPPING_NOTE,
  signalNote,
  timeoutNote,
} from "../../../src/services/exec/notes.js";

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../fixtures/wire/${name}`, import.meta.url), "utf8")) as {
    exec_id: string;
    stdout: string;
    stderr: string;
  };

const cs = (head: string, tail: string, droppedBytes: number): CapturedStream => ({
  head: Buffer.from(head),
  tail: Buffer.from(tail),
  droppedBytes,
  totalBytes: Buffer.byteLength(head) + Buffer.byteLength(tail) + droppedBytes,
});

/** Bytes 0, 1, 2, … (mod 256), so any slice says where it came from. */
const counting = (from: number, n: number) =>
  Buffer.from(Array.from({ length: n }, (_, i) => (from + i) % 256));

describe("StreamCapture (behavior.md 7.10)", () => {
  it("the default cap is 8 MiB split 5 592 405 / 2 796 203", () => {
    const cap = new StreamCapture();
    expect(DEFAULT_CAPTURE_BYTES).toBe(8 * 1024 * 1024);
    const big = Buffer.alloc(DEFAULT_CAPTURE_BYTES + 10, 0x61);
    cap.push(big);
    const r = cap.result();
    expect(r.head.length).toBe(5_592_405);
    expect(r.tail.length).toBe(2_796_203);
    expect(r.droppedBytes).toBe(10);
    expect(r.totalBytes).toBe(DEFAULT_CAPTURE_BYTES + 10);
  });

  it("keeps everything under the cap, contiguous", () => {
    const cap = new StreamCapture(30);
    cap.push(counting(0, 7));
    cap.push(counting(7, 23));
    const r = cap.result();
    expect(Buffer.concat([r.head, r.tail])).toEqual(counting(0, 30));
    expect(r.head.length).toBe(20);
    expect(r.droppedBytes).toBe(0);
    expect(r.totalBytes).toBe(30);
  });

  it("over the cap keeps the first two thirds and the last third, whatever the chunking", () => {
    const total = 1000;
    const all = counting(0, total);
    for (const chunk of [1, 7, 29, 300, 1000]) {
      const cap = new StreamCapture(30);
      for (let i = 0; i < total; i += chunk) cap.push(all.subarray(i, i + chunk));
      const r = cap.result();
      expect(r.head).toEqual(all.subarray(0, 20));
      expect(r.tail).toEqual(all.subarray(total - 10));
      expect(r.droppedBytes).toBe(total - 30);
      expect(r.totalBytes).toBe(total);
    }
  });
});

describe("renderCaptured (wire §4.4, §4.5)", () => {
  it("renders the truncated fixture: head, marker line, tail", () => {
    const expected = fixture("exec-result-truncated.json").stdout;
    expect(renderCaptured(cs("first lines\n", "done.\n", 1_048_000), "stdout")).toBe(expected);
  });

  it("inserts a newline before the marker when head does not end with one", () => {
    expect(renderCaptured(cs("abc", "xyz", 5), "stderr")).toBe(
      "abc\n[kanade-agent: 5 bytes of stderr dropped]\nxyz",
    );
  });

  it("a whole capture is just its text, invalid UTF-8 replaced by U+FFFD", () => {
    const whole: CapturedStream = {
      head: Buffer.from([0x68, 0x69, 0xff, 0xe3]),
      tail: Buffer.from([0x81, 0x82, 0x21]),
      droppedBytes: 0,
      totalBytes: 7,
    };
    // A character split between head and tail is still one character.
    expect(renderCaptured(whole, "stdout")).toBe("hi\uFFFDあ!");
    expect(renderCaptured(cs("", "", 0), "stdout")).toBe("");
  });

  it("moves cuts to character boundaries and counts the partial bytes as dropped", () => {
    const a = Buffer.from("ああ"); // 6 bytes
    const truncated: CapturedStream = {
      head: a.subarray(0, 4), // "あ" + 1 byte of the next
      tail: a.subarray(5), // last byte of "あ"
      droppedBytes: 1,
      totalBytes: 6,
    };
    expect(renderCaptured(truncated, "stdout")).toBe(
      "あ\n[kanade-agent: 3 bytes of stdout dropped]\n",
    );
  });

  it("notes follow the text with \\n, or are the whole text when it is empty", () => {
    const killed = fixture("exec-result-killed.json");
    expect(
      renderCaptured(cs("WARNING: slow disk", "", 0), "stderr", [remoteKillNote(killed.exec_id)]),
    ).toBe(killed.stderr);
    expect(renderCaptured(cs("", "", 0), "stderr", [timeoutNote(60)])).toBe(
      fixture("exec-result-timeout.json").stderr,
    );
    expect(
      renderCaptured(cs("", "", 0), "stderr", [failedToStartNote("pwsh not found on PATH")]),
    ).toBe(fixture("exec-result-failed-to-start.json").stderr);
    expect(renderCaptured(cs("a", "b", 2), "stderr", ["n1", "n2"])).toBe(
      "a\n[kanade-agent: 2 bytes of stderr dropped]\nb\nn1\nn2",
    );
  });
});

describe("agent notes (wire §4.4)", () => {
  it("has the exact texts", () => {
    expect(killNote("remote", { execId: "e-1", timeoutSecs: 5 })).toBe(
      "killed by remote signal (kill.e-1)",
    );
    expect(killNote("timeout", { execId: "e-1", timeoutSecs: 5 })).toBe("timeout after 5s");
    expect(killNote("stopping", { execId: undefined, timeoutSecs: 5 })).toBe(
      "killed: agent stopping",
    );
    expect(STOPPING_NOTE).toBe("killed: agent stopping");
    expect(signalNote("SIGKILL")).toBe("terminated by signal SIGKILL");
  });
});
