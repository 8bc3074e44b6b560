import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  type CapturedStream,
  renderCaptured,
  StreamCapture,
} from "../../../src/services/exec/capture.js";
import {
  fitExecResult,
  renderWhole,
  StreamText,
  serializeResult,
  sourceFromCapture,
  sourceFromText,
} from "../../../src/services/outbox/fit.js";
import {
  resultFileContent,
  sourcesFromFile,
  splitPrivate,
} from "../../../src/services/outbox/resultFile.js";
import { decodeExecResult } from "../../../src/services/wire/execResult.js";
import type { ExecResult } from "../../../src/services/wire/types.js";

const MARKER = /\[kanade-agent: (\d+) bytes of (stdout|stderr) dropped\]\n/g;

const base: ExecResult = {
  resultId: "46d35a01-1632-484a-9758-afc16aaa889d",
  requestId: "188bf149-9a6f-4aa2-aca3-6ce86ab5d841",
  execId: "8a72019b-8c6c-42aa-843d-561239c5fe14",
  pcId: "PC1234",
  exitCode: 0,
  stdout: "",
  stderr: "",
  startedAt: Date.UTC(2026, 4, 16, 0, 0, 0, 123),
  finishedAt: Date.UTC(2026, 4, 16, 0, 0, 5, 654),
  manifestId: "inventory-hw",
};

/** Deterministic PRNG (mulberry32), so a failing case can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = [
  "line of text\n",
  "é",
  "™",
  "😀",
  "日本語",
  "\t",
  '"q"',
  "\\",
  "\u0001",
  "x",
  "\r\n",
];

/** Valid UTF-8 heavy in multibyte characters and JSON escapes. */
function text(rand: () => number, bytes: number): Buffer {
  const parts: string[] = [];
  let n = 0;
  while (n < bytes) {
    const p = PIECES[Math.floor(rand() * PIECES.length)]!;
    parts.push(p);
    n += Buffer.byteLength(p);
  }
  return Buffer.from(parts.join(""), "utf8");
}

function capture(raw: Buffer, cap: number, chunk = 4096): CapturedStream {
  const c = new StreamCapture(cap);
  for (let i = 0; i < raw.length; i += chunk) c.push(raw.subarray(i, i + chunk));
  return c.result();
}

interface Split {
  /** Text before the marker line (its leading newline may have been inserted). */
  before: string;
  tail: string;
  n: number;
}

/** before-marker / marker / tail of a truncated stream; fails on zero or several markers. */
function split(published: string, stream: string): Split {
  const markers = [...published.matchAll(MARKER)];
  expect(markers, `one marker in ${stream}`).toHaveLength(1);
  const m = markers[0]!;
  expect(m[2]).toBe(stream);
  return {
    before: published.slice(0, m.index),
    tail: published.slice(m.index! + m[0].length),
    n: Number(m[1]),
  };
}

/**
 * The heads a rendering can stand for: a newline before the marker is the head's own or was
 * inserted, which the text alone cannot always tell.
 */
const headReadings = (before: string): string[] =>
  before.endsWith("\n") ? [before, before.slice(0, -1)] : [before];

describe("fitExecResult", () => {
  it("sends a result that fits unchanged", async () => {
    const out = await fitExecResult(
      base,
      { stdout: sourceFromText("hello\n"), stderr: sourceFromText("") },
      10_000,
    );
    expect(out.fits).toBe(true);
    expect(out.truncated).toEqual([]);
    expect(JSON.parse(out.payload.toString()).stdout).toBe("hello\n");
  });

  it("renders the fixture's 2:1 cut with one marker line", () => {
    const fixture = JSON.parse(
      readFileSync("test/fixtures/wire/exec-result-truncated.json", "utf8"),
    ) as { stdout: string };
    const raw = `first lines\n${"z".repeat(1_048_000)}done.\n`;
    const cut = new StreamText(sourceFromText(raw), "stdout").cut(18);
    expect(cut.text).toBe(fixture.stdout);
    expect(cut).toMatchObject({ headBytes: 12, tailBytes: 6, dropped: 1_048_000 });
  });

  it("puts the marker on a line of its own when the head does not end with a newline", () => {
    const cut = new StreamText(sourceFromText("abcdefghijklmnopqrstuvwxyz"), "stderr").cut(9);
    expect(cut.text).toBe("abcdef\n[kanade-agent: 17 bytes of stderr dropped]\nxyz");
  });

  it("keeps every result under the budget with exact head, tail, ratio, marker and notes (property loop)", async () => {
    for (let seed = 1; seed <= 120; seed++) {
      const rand = prng(seed);
      const outBytes = Math.floor(rand() * 200_000);
      const errBytes = Math.floor(rand() * (rand() < 0.5 ? 2_000 : 120_000));
      const stdoutRaw = text(rand, outBytes);
      const stderrRaw = text(rand, errBytes);
      // Some runs lose bytes at capture time already (cap far below the output size).
      const cap = rand() < 0.4 ? 20_000 + Math.floor(rand() * 60_000) : 8 * 1024 * 1024;
      const notes = rand() < 0.5 ? ["timeout after 60s"] : [];
      const out = capture(stdoutRaw, cap);
      const err = capture(stderrRaw, cap);
      const sources = { stdout: sourceFromCapture(out), stderr: sourceFromCapture(err, notes) };
      const budget = 1_500 + Math.floor(rand() * 150_000);
      const fitted = await fitExecResult(base, sources, budget);
      const ctx = `seed ${seed} (stdout ${outBytes}, stderr ${errBytes}, cap ${cap}, budget ${budget})`;

      expect(fitted.fits, ctx).toBe(true);
      expect(fitted.payload.length, ctx).toBeLessThanOrEqual(budget);
      const published = JSON.parse(fitted.payload.toString("utf8")) as Record<string, string>;
      expect(decodeExecResult(published).ok, ctx).toBe(true);

      for (const [stream, cs, src] of [
        ["stdout", out, sources.stdout],
        ["stderr", err, sources.stderr],
      ] as const) {
        const shown = published[stream]!;
        const whole = renderWhole(src, stream);
        const notesText = stream === "stderr" && notes.length > 0 ? notes.join("\n") : "";
        // Valid input and cuts on character boundaries: never a replacement character.
        expect(shown.includes("\uFFFD"), `${ctx} ${stream} split a character`).toBe(false);
        expect(shown.endsWith(notesText), `${ctx} ${stream} keeps notes`).toBe(true);
        if (!fitted.truncated.includes(stream)) {
          expect(shown, ctx).toBe(whole);
          continue;
        }
        const s = split(shown, stream);
        expect(whole.endsWith(s.tail), `${ctx} ${stream} tail is a suffix`).toBe(true);
        const tailBytes = Buffer.byteLength(s.tail);
        const notesBytes =
          notesText === "" ? 0 : Buffer.byteLength(notesText) + (cs.totalBytes > 0 ? 1 : 0);
        const total = cs.totalBytes + notesBytes;
        // One reading of the head is a prefix whose size makes the marker's N exact.
        const head = headReadings(s.before).find(
          (h) => whole.startsWith(h) && s.n === total - Buffer.byteLength(h) - tailBytes,
        );
        expect(head, `${ctx} ${stream} head is a prefix and N = bytes not shown`).toBeDefined();
        const headBytes = Buffer.byteLength(head!);
        const kept = headBytes + tailBytes;
        const headRoomLeft = cs.droppedBytes === 0 || headBytes < cs.head.length - 4;
        if (tailBytes > notesBytes + 4 && headRoomLeft && kept > 12) {
          expect(Math.abs(headBytes - (2 * kept) / 3), `${ctx} ${stream} 2:1`).toBeLessThanOrEqual(
            4,
          );
        }
        // Nothing much is wasted: the budget is used up to the cost of a few characters.
        expect(fitted.payload.length, ctx).toBeGreaterThan(budget - 64);
      }
    }
  });

  it("leaves the smaller stream whole when it needs at most half the room", async () => {
    const fitted = await fitExecResult(
      base,
      {
        stdout: sourceFromText("o".repeat(50_000)),
        stderr: sourceFromText("warning\n".repeat(100)),
      },
      20_000,
    );
    const p = JSON.parse(fitted.payload.toString()) as Record<string, string>;
    expect(fitted.truncated).toEqual(["stdout"]);
    expect(p.stderr).toBe("warning\n".repeat(100));
    expect(fitted.payload.length).toBeLessThanOrEqual(20_000);
    expect(fitted.payload.length).toBeGreaterThan(20_000 - 16);
  });

  it("gives each stream half when both are large", async () => {
    const fitted = await fitExecResult(
      base,
      { stdout: sourceFromText("o".repeat(50_000)), stderr: sourceFromText("e".repeat(30_000)) },
      20_000,
    );
    const p = JSON.parse(fitted.payload.toString()) as Record<string, string>;
    expect(fitted.truncated.sort()).toEqual(["stderr", "stdout"]);
    expect(Math.abs(p.stdout!.length - p.stderr!.length)).toBeLessThanOrEqual(8);
  });

  it("counts raw bytes of invalid UTF-8 exactly and keeps the 2:1 split in raw bytes", () => {
    const rand = prng(7);
    const raw = Buffer.alloc(30_000);
    for (let i = 0; i < raw.length; i++) raw[i] = Math.floor(rand() * 256);
    const st = new StreamText({ head: raw, tail: Buffer.alloc(0), dropped: 0, keep: 0 }, "stdout");
    for (const kept of [0, 1, 2, 3, 10, 99, 1_000, 12_345, 29_999]) {
      const cut = st.cut(kept);
      expect(cut.dropped).toBe(raw.length - cut.headBytes - cut.tailBytes);
      expect(cut.headBytes + cut.tailBytes).toBeLessThanOrEqual(kept);
      expect(cut.headBytes + cut.tailBytes).toBeGreaterThanOrEqual(kept - 6);
      expect(
        Math.abs(cut.headBytes - (2 * (cut.headBytes + cut.tailBytes)) / 3),
      ).toBeLessThanOrEqual(4);
      const whole = raw.toString("utf8");
      expect(whole.startsWith(raw.subarray(0, cut.headBytes).toString("utf8"))).toBe(true);
      expect(whole.endsWith(raw.subarray(raw.length - cut.tailBytes).toString("utf8"))).toBe(true);
    }
  });

  it("never splits a multibyte character, at any cut", () => {
    const raw = Buffer.from("™😀é".repeat(200), "utf8");
    const st = new StreamText(sourceFromText(raw.toString("utf8")), "stdout");
    for (let kept = 0; kept < raw.length; kept++) {
      const cut = st.cut(kept);
      expect(cut.text.includes("\uFFFD"), `kept ${kept}`).toBe(false);
      expect(cut.dropped).toBe(raw.length - cut.headBytes - cut.tailBytes);
    }
  });

  it("shows at most one marker when capture already dropped bytes, counting both drops", async () => {
    const raw = Buffer.from("0123456789".repeat(100_000));
    const cs = capture(raw, 300_000);
    expect(cs.droppedBytes).toBe(700_000);
    const fitted = await fitExecResult(
      base,
      { stdout: sourceFromCapture(cs), stderr: sourceFromText("") },
      50_000,
    );
    const stdout = (JSON.parse(fitted.payload.toString()) as { stdout: string }).stdout;
    const s = split(stdout, "stdout");
    // No newline in the output: the one before the marker was inserted.
    const shown = Buffer.byteLength(s.before) - 1 + Buffer.byteLength(s.tail);
    expect(s.n).toBe(1_000_000 - shown);
  });

  it("keeps agent notes even when the output is cut hard", async () => {
    const note = "killed by remote signal (kill.8a72019b-8c6c-42aa-843d-561239c5fe14)";
    const cs = capture(Buffer.from("E".repeat(100_000)), 8 * 1024 * 1024);
    // So little room that a third of it is shorter than the note.
    const budget = serializeResult(base).length + 200;
    const fitted = await fitExecResult(
      base,
      { stdout: sourceFromText(""), stderr: sourceFromCapture(cs, [note]) },
      budget,
    );
    const stderr = (JSON.parse(fitted.payload.toString()) as { stderr: string }).stderr;
    expect(stderr.endsWith(`\n${note}`)).toBe(true);
    expect(stderr).toMatch(/^E+\n\[kanade-agent: \d+ bytes of stderr dropped\]\nE*\nkilled/);
    expect(fitted.payload.length).toBeLessThanOrEqual(budget);
  });

  it("falls back to the marker alone when nothing else fits", async () => {
    const note = "n".repeat(400);
    // Room for little more than the two markers.
    const budget = serializeResult(base).length + 92;
    const fitted = await fitExecResult(
      base,
      {
        stdout: sourceFromText("o".repeat(5_000)),
        stderr: sourceFromCapture(capture(Buffer.from("e".repeat(5_000)), 1 << 20), [note]),
      },
      budget,
    );
    const p = JSON.parse(fitted.payload.toString()) as Record<string, string>;
    expect(p.stdout).toBe("[kanade-agent: 5000 bytes of stdout dropped]\n");
    expect(p.stderr).toBe("[kanade-agent: 5000 bytes of stderr dropped]\n");
    expect(fitted.fits).toBe(true);
    expect(fitted.payload.length).toBeLessThanOrEqual(budget);
  });

  it("reports a result that cannot fit at all", async () => {
    const fitted = await fitExecResult(
      { ...base, manifestId: "m".repeat(5_000) },
      { stdout: sourceFromText("x".repeat(10_000)), stderr: sourceFromText("") },
      2_000,
    );
    expect(fitted.fits).toBe(false);
  });
});

describe("fitExecResult with result_output", () => {
  const big = (n: number, c: string) => sourceFromText(c.repeat(n));

  it("uploads the largest stream first and stops once the rest fits", async () => {
    const uploads: { key: string; bytes: number }[] = [];
    const fitted = await fitExecResult(
      base,
      { stdout: big(30_000, "o"), stderr: big(50_000, "e") },
      40_000,
      {
        upload: async (key, data) => {
          uploads.push({ key, bytes: data.length });
          return true;
        },
      },
    );
    expect(uploads).toEqual([{ key: `${base.requestId}/PC1234/stderr`, bytes: 50_000 }]);
    const p = JSON.parse(fitted.payload.toString()) as Record<string, string>;
    expect(p.stderr).toBe("");
    expect(p.stderr_object).toBe(`${base.requestId}/PC1234/stderr`);
    expect(p.stdout).toBe("o".repeat(30_000));
    expect(fitted.truncated).toEqual([]);
  });

  it("uploads both streams when one is not enough", async () => {
    const keys: string[] = [];
    const fitted = await fitExecResult(
      base,
      { stdout: big(30_000, "o"), stderr: big(50_000, "e") },
      20_000,
      {
        upload: async (key) => {
          keys.push(key);
          return true;
        },
      },
    );
    expect(keys).toEqual([`${base.requestId}/PC1234/stderr`, `${base.requestId}/PC1234/stdout`]);
    const p = JSON.parse(fitted.payload.toString()) as Record<string, string>;
    expect([p.stdout, p.stderr, p.stdout_object]).toEqual([
      "",
      "",
      `${base.requestId}/PC1234/stdout`,
    ]);
  });

  it("uploads the whole captured text, marker and notes included", async () => {
    const cs = capture(Buffer.from("x".repeat(100_000)), 30_000);
    const src = sourceFromCapture(cs, ["timeout after 5s"]);
    let uploaded = "";
    await fitExecResult(base, { stdout: sourceFromText(""), stderr: src }, 10_000, {
      upload: async (_k, data) => {
        uploaded = data.toString("utf8");
        return true;
      },
    });
    expect(uploaded).toBe(renderCaptured(cs, "stderr", ["timeout after 5s"]));
  });

  it("truncates when the upload fails", async () => {
    const fitted = await fitExecResult(
      base,
      { stdout: big(80_000, "o"), stderr: big(10, "e") },
      20_000,
      {
        upload: async () => false,
      },
    );
    const p = JSON.parse(fitted.payload.toString()) as Record<string, string>;
    expect(p.stdout_object).toBeUndefined();
    expect(fitted.truncated).toEqual(["stdout"]);
    expect(fitted.payload.length).toBeLessThanOrEqual(20_000);
  });
});

describe("result files", () => {
  const parse = (c: {
    payload: Record<string, unknown>;
    privateMembers: Record<string, unknown>;
  }) => {
    const file = JSON.parse(JSON.stringify({ ...c.payload, ...c.privateMembers })) as Record<
      string,
      unknown
    >;
    const { payload, privateMembers } = splitPrivate(file);
    const decoded = decodeExecResult(payload);
    if (!decoded.ok) throw new Error(decoded.error.message);
    return { result: decoded.value, privateMembers };
  };

  it("renders stdout and stderr exactly like the exec layer", () => {
    const out = capture(Buffer.from("a™".repeat(40_000)), 50_000);
    const err = capture(Buffer.from("warn\n"), 50_000);
    const notes = ["timeout after 3s"];
    const c = resultFileContent(base, { stdout: out, stderr: err, notes });
    expect(c.payload.stdout).toBe(renderCaptured(out, "stdout"));
    expect(c.payload.stderr).toBe(renderCaptured(err, "stderr", notes));
  });

  it("stores no raw parts for plain UTF-8 output without notes", () => {
    const c = resultFileContent(base, {
      stdout: capture(Buffer.from("hello\n"), 1000),
      stderr: capture(Buffer.alloc(0), 1000),
    });
    expect(c.privateMembers).toEqual({});
  });

  it("re-truncates from the file exactly as from the capture, invalid bytes and notes included", async () => {
    const raw = Buffer.concat([
      Buffer.from("start\n"),
      Buffer.from([0xff, 0xfe, 0xe2, 0x82]),
      Buffer.alloc(60_000, 0x41),
    ]);
    const out = capture(raw, 40_000);
    const err = capture(Buffer.from([0xc3, 0x28, 0x0a]), 40_000);
    const notes = ["terminated by signal SIGKILL"];
    const c = resultFileContent(base, { stdout: out, stderr: err, notes });
    const { result, privateMembers } = parse(c);
    const fromFile = await fitExecResult(result, sourcesFromFile(result, privateMembers), 5_000);
    const direct = await fitExecResult(
      base,
      { stdout: sourceFromCapture(out), stderr: sourceFromCapture(err, notes) },
      5_000,
    );
    expect(fromFile.payload.toString()).toBe(direct.payload.toString());
    const p = JSON.parse(fromFile.payload.toString()) as Record<string, string>;
    const s = split(p.stdout!, "stdout");
    // "start\n" + 4 invalid bytes shown as 3 replacement characters, then "A"s; the head does not
    // end with a newline, so one was inserted before the marker.
    expect(s.before.startsWith("start\n\uFFFD\uFFFD\uFFFDA")).toBe(true);
    const headRaw = Buffer.byteLength(s.before.slice(0, -1)) - 3 * 3 + 4;
    expect(s.n).toBe(raw.length - headRaw - Buffer.byteLength(s.tail));
  });

  it("falls back to the inline text when the parts are unusable", () => {
    const sources = sourcesFromFile({ ...base, stdout: "abc" }, { _stdout_parts: { head: 5 } });
    expect(renderWhole(sources.stdout, "stdout")).toBe("abc");
  });
});
