import { Objm } from "@nats-io/obj";
import { afterEach, describe, expect, it } from "vitest";
import { OBJ_RESULT_OUTPUT, resultOutputKey } from "../../../src/services/nats/subjects.js";
import { AgentScenario } from "../../helpers/agentScenario.js";

let s: AgentScenario | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

/** `seq 1 N` prints 3 178 895 bytes (> 3 MiB): far above the 1 MiB max_payload. */
const N = 470_000;
const EXPECTED = `${Array.from({ length: N }, (_, i) => String(i + 1)).join("\n")}\n`;
const MAX_PAYLOAD = 1_048_576;

describe("3 MiB of stdout (behavior.md 8.5, wire.md 4.5)", () => {
  it("with result_output the whole output is uploaded and the result names the object", async () => {
    s = await AgentScenario.start({ resultOutput: true });
    expect(Buffer.byteLength(EXPECTED)).toBeGreaterThan(3 * 1024 * 1024);
    const cmd = s.runCommand(`seq 1 ${N}; echo small >&2`);
    await s.publish(cmd);
    const r = await s.waitResult(cmd.requestId, 20_000);

    const key = resultOutputKey(cmd.requestId, s.pcId, "stdout");
    expect(r.exit_code).toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stdout_object).toBe(key);
    expect(r.stderr).toBe("small\n");
    expect(r).not.toHaveProperty("stderr_object");

    const store = await new Objm(s.nc).open(OBJ_RESULT_OUTPUT);
    const content = await store.getBlob(key);
    expect(content).not.toBeNull();
    const text = new TextDecoder().decode(content ?? new Uint8Array());
    expect(text.length).toBe(EXPECTED.length);
    expect(text === EXPECTED).toBe(true);
  });

  it("against the 0.40 set (no result_output) the result is truncated below max_payload", async () => {
    s = await AgentScenario.start({ resultOutput: false });
    const cmd = s.runCommand(`seq 1 ${N}`);
    await s.publish(cmd);
    await s.waitResult(cmd.requestId, 20_000);
    const inStream = await s.streamResult(cmd.requestId);
    expect(inStream.count).toBe(1);
    const raw = inStream.last?.raw ?? new Uint8Array();
    expect(raw.length).toBeLessThanOrEqual(MAX_PAYLOAD - 1024);
    const r = inStream.last!.data;

    expect(r.exit_code).toBe(0);
    expect(r).not.toHaveProperty("stdout_object");
    const m = /\n\[kanade-agent: (\d+) bytes of stdout dropped\]\n/.exec(r.stdout);
    expect(m).not.toBeNull();
    const at = m!.index;
    const head = r.stdout.slice(0, at + 1);
    const tail = r.stdout.slice(at + m![0].length);
    // head is a prefix and tail a suffix of the real output; together with the count they
    // account for every byte; head holds two thirds of what is kept (±4 bytes).
    expect(EXPECTED.startsWith(head)).toBe(true);
    expect(EXPECTED.endsWith(tail)).toBe(true);
    const headBytes = Buffer.byteLength(head);
    const tailBytes = Buffer.byteLength(tail);
    expect(headBytes + tailBytes + Number(m![1])).toBe(Buffer.byteLength(EXPECTED));
    expect(Math.abs(headBytes - 2 * tailBytes)).toBeLessThanOrEqual(12);
    expect(headBytes).toBeGreaterThan(500_000);
    expect(tail.endsWith(`${N}\n`)).toBe(true);
  });
});
