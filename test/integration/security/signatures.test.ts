import { afterEach, describe, expect, it } from "vitest";
import { commandsAll, commandsPc } from "../../../src/services/nats/subjects.js";
import { buildEnvelopeV2, refusalResultId } from "../../../src/services/signing/index.js";
import { encodeCommand } from "../../../src/services/wire/index.js";
import type { Command } from "../../../src/services/wire/types.js";
import { AgentScenario } from "../../helpers/agentScenario.js";
import { KeysFile, publishSigned, type TestKey, testKey } from "./signingKit.js";

let s: AgentScenario | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

async function start(toml: string): Promise<AgentScenario> {
  return AgentScenario.start({ agent: { extraToml: toml } });
}

const body = (c: Command): string => JSON.stringify(encodeCommand(c));
const inMinutes = (m: number): number => Date.now() + m * 60_000;

describe("signature enforcement with the real agent (behavior.md 17.5)", () => {
  it("refuses unsigned, tampered, unknown-key, stale, wrong-target and expired commands with exit 123 and runs none", async () => {
    const trusted = testKey();
    const shortLived = testKey(60);
    const stranger = testKey();
    const keys = new KeysFile([trusted, shortLived]);
    s = await start(keys.toml({ require: true }));
    const sc = s;
    const subject = commandsPc(sc.pcId);

    const cases: { name: string; note: string; send: (c: Command) => Promise<void> }[] = [
      {
        name: "unsigned",
        note: "refused: command signature unsigned",
        send: (c) => sc.publish(c),
      },
      {
        name: "tampered",
        note: "refused: command signature invalid",
        send: (c) =>
          publishSigned(sc.nc, subject, body(c), trusted, {
            tamper: (b) => b.replace('"timeout_secs":30', '"timeout_secs":31'),
          }),
      },
      {
        name: "unknown key",
        note: `refused: command signature unknown key ${stranger.kid}`,
        send: (c) => publishSigned(sc.nc, subject, body(c), stranger),
      },
      {
        name: "stale",
        note: "refused: command signature stale",
        send: (c) =>
          publishSigned(sc.nc, subject, body(c), shortLived, { atMs: Date.now() - 120_000 }),
      },
      {
        name: "wrong target",
        note: "refused: command signature wrong target some-other-pc",
        send: (c) =>
          publishSigned(
            sc.nc,
            commandsAll(),
            buildEnvelopeV2(c, "some-other-pc", inMinutes(5)),
            trusted,
          ),
      },
      {
        name: "expired",
        note: "refused: command signature expired",
        send: (c) =>
          publishSigned(sc.nc, subject, buildEnvelopeV2(c, sc.pcId, Date.now() - 1_000), trusted),
      },
    ];
    const sent = cases.map((k) => ({ ...k, command: sc.runCommand("echo ran") }));
    for (const k of sent) await k.send(k.command);

    for (const k of sent) {
      const r = await sc.waitResult(k.command.requestId);
      expect({ case: k.name, ...r }).toMatchObject({
        case: k.name,
        result_id: refusalResultId(k.command.requestId, sc.pcId),
        request_id: k.command.requestId,
        exec_id: k.command.execId,
        manifest_id: k.command.id,
        pc_id: sc.pcId,
        exit_code: 123,
        stdout: "",
        stderr: k.note,
      });
      expect(r.started_at).toBe(r.finished_at);
      expect(r.skipped).toBeUndefined();
    }

    // Replayed copies are refused too (and acked); each result_id reaches RESULTS once.
    await sc.waitReplayDrained();
    await sc.waitOutboxesEmpty();
    for (const k of sent) {
      expect((await sc.streamResult(k.command.requestId)).count).toBe(1);
      expect(sc.runsOf(k.command.requestId)).toBe(0);
      expect(sc.ledgerRecord(k.command.requestId)).toBeUndefined();
    }
    expect(sc.outboxFiles().events).toEqual([]);
    // The refusal is logged, rate-limited per outcome.
    expect(sc.logCount("command refused: signature not accepted")).toBe(sent.length);
  });

  it("runs validly signed legacy commands and envelopes, once", async () => {
    const trusted = testKey();
    const keys = new KeysFile([trusted]);
    s = await start(keys.toml({ require: true }));
    const legacy = s.runCommand("echo legacy");
    await publishSigned(s.nc, commandsPc(s.pcId), body(legacy), trusted);
    const wrapped = s.runCommand("echo wrapped");
    await publishSigned(
      s.nc,
      commandsAll(),
      buildEnvelopeV2(wrapped, s.pcId, inMinutes(5)),
      trusted,
    );

    expect(await s.waitResult(legacy.requestId)).toMatchObject({
      exit_code: 0,
      stdout: "legacy\n",
    });
    expect(await s.waitResult(wrapped.requestId)).toMatchObject({
      exit_code: 0,
      stdout: "wrapped\n",
      exec_id: wrapped.execId,
    });
    await s.waitReplayDrained();
    expect(s.runsOf(legacy.requestId)).toBe(1);
    expect(s.runsOf(wrapped.requestId)).toBe(1);
  });

  it("require_envelope refuses a validly signed legacy body", async () => {
    const trusted = testKey();
    s = await start(new KeysFile([trusted]).toml({ require: true, requireEnvelope: true }));
    const legacy = s.runCommand("echo legacy");
    await publishSigned(s.nc, commandsPc(s.pcId), body(legacy), trusted);
    const r = await s.waitResult(legacy.requestId);
    expect(r).toMatchObject({
      exit_code: 123,
      stderr: "refused: command signature envelope required",
    });
    const wrapped = s.runCommand("echo wrapped");
    await publishSigned(
      s.nc,
      commandsPc(s.pcId),
      buildEnvelopeV2(wrapped, s.pcId, inMinutes(1)),
      trusted,
    );
    expect(await s.waitResult(wrapped.requestId)).toMatchObject({ exit_code: 0 });
    expect(s.runsOf(legacy.requestId)).toBe(0);
  });

  it("accepts a key added to the keys file while running (re-read on an unknown kid)", async () => {
    const old = testKey();
    const next = testKey();
    const keys = new KeysFile([old]);
    s = await start(keys.toml({ require: true }));
    keys.write([old, next]);
    const c = s.runCommand("echo rotated");
    await publishSigned(s.nc, commandsPc(s.pcId), body(c), next);
    expect(await s.waitResult(c.requestId)).toMatchObject({ exit_code: 0, stdout: "rotated\n" });
    await s.agent.waitForLog({
      msg: "signing keys re-read for an unknown kid",
      asked_for: next.kid,
    });
    expect(s.runsOf(c.requestId)).toBe(1);
  });
});

describe("signature observe mode (behavior.md 17.4)", () => {
  it("runs unsigned, tampered and unknown-key commands and logs each failure kind once", async () => {
    const trusted = testKey();
    const stranger: TestKey = testKey();
    s = await start(new KeysFile([trusted]).toml({ require: false }));
    const subject = commandsPc(s.pcId);
    const tamper = (b: string) => b.replace('"timeout_secs":30', '"timeout_secs":29');
    const commands = [1, 2, 3].map(() => s!.runCommand("echo observed"));
    const [unsigned, tampered1, tampered2] = commands as [Command, Command, Command];
    const unknown = s.runCommand("echo observed");
    await s.publish(unsigned);
    await publishSigned(s.nc, subject, body(tampered1), trusted, { tamper });
    await publishSigned(s.nc, subject, body(tampered2), trusted, { tamper });
    await publishSigned(s.nc, subject, body(unknown), stranger);

    for (const c of [unsigned, tampered1, tampered2, unknown]) {
      expect(await s.waitResult(c.requestId)).toMatchObject({ exit_code: 0 });
    }
    await s.waitReplayDrained();
    for (const c of [unsigned, tampered1, tampered2, unknown])
      expect(s.runsOf(c.requestId)).toBe(1);
    const warned = s.agent.logs
      .filter((l) => /observe mode/.test(String(l.json?.msg)))
      .map((l) => l.json?.signature);
    // Two tampered commands, each seen live and replayed: one line.
    expect(warned.sort()).toEqual(["invalid", `unknown key ${stranger.kid}`].sort());
  });
});
