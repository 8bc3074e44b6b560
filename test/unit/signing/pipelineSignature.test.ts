import { headers as natsHeaders } from "@nats-io/nats-core";
import { firstValueFrom, NEVER, Subject, take, toArray } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import type { IntakeMessage } from "../../../src/services/commands/intake.js";
import { Ledger } from "../../../src/services/commands/ledger.js";
import {
  type AdmittedCommand,
  admissionPipeline,
  type SignatureRefusal,
} from "../../../src/services/commands/pipeline.js";
import {
  buildEnvelopeV2,
  CommandVerifier,
  parseKeyring,
  refusalResultId,
} from "../../../src/services/signing/index.js";
import { signCommandBody } from "../../../src/services/signing/sign.js";
import { encodeCommand } from "../../../src/services/wire/index.js";
import type { Command } from "../../../src/services/wire/types.js";
import { captureLog } from "../../helpers/captureLog.js";
import { sampleCommand } from "../../helpers/commands.js";
import { removeTempDir, tempDir } from "../../helpers/tmp.js";
import { waitFor } from "../../helpers/waitFor.js";
import { ManualClock, vector, vectorSeed } from "./kit.js";

const ledgers: Ledger[] = [];
afterEach(async () => {
  for (const l of ledgers.splice(0)) await l.close();
});

const PC = "PC1";
const T0 = vector.at_ms + 1_000;

const cmd = (requestId: string): Command =>
  sampleCommand({ id: "manifest-x", requestId, execId: `exec-${requestId}` });

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeTempDir(d);
});

async function setUp(opts: { require: boolean; failWrite?: boolean }) {
  const dir = tempDir("kanade-sigpipe-");
  dirs.push(dir);
  const clock = new ManualClock(T0);
  const captured = captureLog();
  const ledger = await Ledger.open(dir, { clock, log: captured.log });
  ledgers.push(ledger);
  const verifier = new CommandVerifier({
    pcId: PC,
    require: opts.require,
    keyring: parseKeyring(JSON.stringify(vector.keys), "keys.json"),
    clock,
    log: captured.log,
  });
  const refused: SignatureRefusal[] = [];
  const intake$ = new Subject<IntakeMessage>();
  const admitted: AdmittedCommand[] = [];
  const sub = admissionPipeline(intake$, NEVER, {
    pcId: PC,
    isMember: () => false,
    ledger,
    log: captured.log,
    verifier,
    onRefused: async (r) => {
      if (opts.failWrite) throw new Error("disk full");
      refused.push(r);
    },
  }).subscribe((a) => admitted.push(a));
  const acks: string[] = [];
  const send = (
    body: string,
    h: Record<string, string> = {},
    source: "live" | "replay" = "replay",
  ) => {
    const hdrs = natsHeaders();
    for (const [k, v] of Object.entries(h)) hdrs.set(k, v);
    intake$.next({
      source,
      subject: `commands.pc.${PC}`,
      data: new TextEncoder().encode(body),
      headers: Object.keys(h).length > 0 ? hdrs : undefined,
      receivedAt: clock.now(),
      ack: () => acks.push(body),
    });
  };
  const until = (cond: () => boolean, what: string) => waitFor(cond, { timeoutMs: 2_000, what });
  return { ledger, refused, admitted, acks, send, until, captured, stop: () => sub.unsubscribe() };
}

describe("admission pipeline: signature step (behavior.md 5.2 step 2, §17)", () => {
  it("refuses an unsigned command in enforce mode: exit-123 facts, acked, no ledger record", async () => {
    const t = await setUp({ require: true });
    const body = JSON.stringify(encodeCommand(cmd("req-unsigned")));
    t.send(body);
    await t.until(() => t.acks.length === 1, "the refusal");
    expect(t.admitted).toEqual([]);
    expect(t.refused).toEqual([
      {
        requestId: "req-unsigned",
        execId: "exec-req-unsigned",
        manifestId: "manifest-x",
        resultId: refusalResultId("req-unsigned", PC),
        note: "refused: command signature unsigned",
        source: "replay",
        subject: `commands.pc.${PC}`,
        receivedAt: T0,
      },
    ]);
    expect(t.acks).toEqual([body]);
    expect(t.ledger.lookup("req-unsigned")).toBeUndefined();
    // Not recorded: the replayed copy is refused again, with the same result_id.
    t.send(body, {}, "live");
    await t.until(() => t.refused.length === 2, "the second refusal");
    expect(t.refused.map((r) => r.resultId)).toEqual([
      refusalResultId("req-unsigned", PC),
      refusalResultId("req-unsigned", PC),
    ]);
    t.stop();
  });

  it("admits the signed fixture, and refuses its tampered copy as invalid", async () => {
    const t = await setUp({ require: true });
    t.send(vector.tampered_body, vector.headers);
    t.send(vector.body, vector.headers);
    await t.until(() => t.admitted.length === 1, "the valid command");
    expect(t.refused.map((r) => r.note)).toEqual(["refused: command signature invalid"]);
    expect(t.admitted.map((a) => a.requestId)).toEqual(["7d9f3c1e-2b4a-4c8e-9f10-3a5b6c7d8e9f"]);
    t.stop();
  });

  it("reads header names without regard to case", async () => {
    const t = await setUp({ require: true });
    const lower = Object.fromEntries(
      Object.entries(vector.headers).map(([k, v]) => [k.toLowerCase(), v]),
    );
    t.send(vector.body, lower);
    await t.until(() => t.admitted.length === 1, "the valid command");
    expect(t.admitted).toHaveLength(1);
    t.stop();
  });

  it("drops a refused body without a valid request_id: no result, acked", async () => {
    const t = await setUp({ require: true });
    t.send('{"id":"x","request_id":"has space"}');
    t.send("not json");
    await t.until(() => t.acks.length === 2, "both acks");
    expect(t.refused).toEqual([]);
    expect(t.acks).toHaveLength(2);
    expect(t.captured.at(40, /without a valid request_id/)).toHaveLength(1);
    t.stop();
  });

  it("leaves a replayed message unacked when the refusal result cannot be written", async () => {
    const t = await setUp({ require: true, failWrite: true });
    t.send(JSON.stringify(encodeCommand(cmd("req-x"))));
    await t.until(() => t.captured.at(50).length > 0, "the error log");
    expect(t.acks).toEqual([]);
    expect(t.captured.at(50, /refusal result not written/)).toHaveLength(1);
    t.stop();
  });

  it("observe mode admits every outcome", async () => {
    const t = await setUp({ require: false });
    t.send(JSON.stringify(encodeCommand(cmd("req-a"))));
    t.send(vector.tampered_body, vector.headers);
    await t.until(() => t.admitted.length === 2, "both commands");
    expect(t.admitted.map((a) => a.requestId).sort()).toEqual(
      ["7d9f3c1e-2b4a-4c8e-9f10-3a5b6c7d8e9f", "req-a"].sort(),
    );
    expect(t.refused).toEqual([]);
    t.stop();
  });

  it("unwraps an accepted envelope: the inner command is admitted, keyed by its request_id", async () => {
    const t = await setUp({ require: true });
    const body = buildEnvelopeV2(cmd("req-env"), PC, T0 + 60_000);
    t.send(body, signCommandBody(body, vectorSeed, "test-2026", T0));
    const wrong = buildEnvelopeV2(cmd("req-wrong"), "PC2", T0 + 60_000);
    t.send(wrong, signCommandBody(wrong, vectorSeed, "test-2026", T0));
    await t.until(() => t.refused.length === 1 && t.admitted.length === 1, "both verdicts");
    expect(t.admitted).toMatchObject([{ requestId: "req-env", command: cmd("req-env") }]);
    expect(t.refused).toMatchObject([
      { requestId: "req-wrong", note: "refused: command signature wrong target PC2" },
    ]);
    t.stop();
  });

  it("keeps arrival order across a verdict that waits (concatMap)", async () => {
    const t = await setUp({ require: false });
    const ids = ["r1", "r2", "r3", "r4"];
    for (const id of ids) t.send(JSON.stringify(encodeCommand(cmd(id))), {}, "live");
    await t.until(() => t.admitted.length === 4, "four commands");
    expect(t.admitted.map((a) => a.requestId)).toEqual(ids);
    t.stop();
  });
});

describe("admission pipeline without [signing]", () => {
  it("ignores signature headers and still unwraps envelopes", async () => {
    const dir = tempDir("kanade-sigpipe-");
    dirs.push(dir);
    const clock = new ManualClock(T0);
    const ledger = await Ledger.open(dir, { clock, log: captureLog().log });
    ledgers.push(ledger);
    const intake$ = new Subject<IntakeMessage>();
    const out = firstValueFrom(
      admissionPipeline(intake$, NEVER, {
        pcId: PC,
        isMember: () => false,
        ledger,
        log: captureLog().log,
      }).pipe(take(2), toArray()),
    );
    const hdrs = natsHeaders();
    hdrs.set("Kanade-Sig", "garbage");
    const data = new TextEncoder();
    intake$.next({
      source: "live",
      subject: `commands.pc.${PC}`,
      data: data.encode(vector.tampered_body),
      headers: hdrs,
      receivedAt: T0,
    });
    intake$.next({
      source: "live",
      subject: "commands.all",
      data: data.encode(buildEnvelopeV2(cmd("req-e"), "someone-else", 0)),
      receivedAt: T0,
    });
    const admitted = await out;
    expect(admitted.map((a) => a.requestId)).toEqual([
      "7d9f3c1e-2b4a-4c8e-9f10-3a5b6c7d8e9f",
      "req-e",
    ]);
  });
});
