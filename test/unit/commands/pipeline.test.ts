import { Subject } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import type { IntakeMessage } from "../../../src/services/commands/intake.js";
import { Ledger } from "../../../src/services/commands/ledger.js";
import {
  type AdmittedCommand,
  addressedToMe,
  admissionPipeline,
  type LocalCommand,
} from "../../../src/services/commands/pipeline.js";
import { silentLogger } from "../../../src/services/logging/logger.js";
import { systemClock } from "../../../src/services/time/clock.js";
import { sampleCommand } from "../../helpers/commands.js";
import { tempDir } from "../../helpers/tmp.js";
import { waitFor } from "../../helpers/waitFor.js";

const body = (over: Record<string, unknown> = {}) =>
  new TextEncoder().encode(
    JSON.stringify({
      id: "m",
      version: "1",
      request_id: "r-1",
      shell: "sh",
      script: "true",
      timeout_secs: 5,
      ...over,
    }),
  );

const ledgers: Ledger[] = [];
afterEach(async () => {
  for (const l of ledgers.splice(0)) await l.close();
});

async function setup(opts: { admitLingerMs?: number } = {}) {
  const ledger = await Ledger.open(tempDir("pipeline-"), {
    clock: systemClock,
    log: silentLogger(),
    admitLingerMs: opts.admitLingerMs,
  });
  ledgers.push(ledger);
  const fresh: string[] = [];
  const intake$ = new Subject<IntakeMessage>();
  const local$ = new Subject<LocalCommand>();
  const out: AdmittedCommand[] = [];
  admissionPipeline(intake$, local$, {
    pcId: "PC.1",
    isMember: (g) => g === "canary",
    ledger,
    log: silentLogger(),
    onNew: (c) => fresh.push(c.requestId),
  }).subscribe((a) => out.push(a));
  const acks: string[] = [];
  const send = (subject: string, data: Uint8Array, source: "live" | "replay" = "live") =>
    intake$.next({
      source,
      subject,
      data,
      receivedAt: 1,
      ack: source === "replay" ? () => acks.push(subject) : undefined,
    });
  return { ledger, intake$, local$, out, acks, send, fresh };
}

describe("admission pipeline", () => {
  it("addressed to me: all, my exact (dotted) pc_id, my groups only", () => {
    const d = { pcId: "pc1.corp.local", isMember: (g: string) => g === "wave.1" };
    expect(addressedToMe("commands.all", d)).toBe(true);
    expect(addressedToMe("commands.pc.pc1.corp.local", d)).toBe(true);
    expect(addressedToMe("commands.pc.pc1.corp", d)).toBe(false);
    expect(addressedToMe("commands.group.wave.1", d)).toBe(true);
    expect(addressedToMe("commands.group.wave", d)).toBe(false);
    expect(addressedToMe("commands.other", d)).toBe(false);
  });

  it("admits a request_id once across live and replay, acking every replay copy", async () => {
    const p = await setup();
    p.send("commands.pc.PC.1", body());
    p.send("commands.all", body(), "replay");
    p.send("commands.pc.PC.1", body(), "replay");
    await waitFor(() => p.acks.length === 2, { what: "replay acks" });
    expect(p.out.map((a) => a.requestId)).toEqual(["r-1"]);
    expect(p.ledger.lookup("r-1")?.state).toBe("admitted");
  });

  it("acks a replayed command and its duplicate only once the record is on disk", async () => {
    const p = await setup({ admitLingerMs: 60_000 });
    p.send("commands.all", body({ request_id: "r-lazy" }), "replay");
    p.send("commands.all", body({ request_id: "r-lazy" }), "replay"); // a duplicate copy
    await waitFor(() => p.out.length === 1, { what: "admission" });
    expect(p.acks).toEqual([]); // admitted in memory only: acking now could lose it
    await p.ledger.durable("r-lazy"); // the next sync (here: asked for) brings both acks
    await waitFor(() => p.acks.length === 2, { what: "both acks after the sync" });
  });

  it("tells about a decoded command only while its request_id is new (gate reads start early)", async () => {
    const p = await setup();
    p.send("commands.all", body({ request_id: "r-a" }));
    await waitFor(() => p.out.length === 1, { what: "admission" });
    p.send("commands.all", body({ request_id: "r-a" }), "replay");
    p.send("commands.all", new TextEncoder().encode("{not json"));
    p.send("commands.all", body({ request_id: "r-bad", shell: "bash" }));
    await waitFor(() => p.out.length === 2, { what: "the rejected one" });
    expect(p.fresh).toEqual(["r-a"]);
  });

  it("drops (and acks) what is not mine or not decodable; rejects a bad schema with its request_id", async () => {
    const p = await setup();
    p.send("commands.pc.OTHER", body({ request_id: "x-1" }), "replay");
    p.send("commands.group.other", body({ request_id: "x-2" }), "replay");
    p.send("commands.all", new TextEncoder().encode("{not json"), "replay");
    p.send("commands.all", body({ request_id: "bad.id" }), "replay");
    p.send("commands.group.canary", body({ request_id: "r-bad", shell: "bash" }), "replay");
    await waitFor(() => p.acks.length === 5, { what: "acks" });
    expect(p.out).toHaveLength(1);
    expect(p.out[0]?.requestId).toBe("r-bad");
    expect(p.out[0]?.command).toBeNull();
    expect(p.out[0]?.rejection?.note).toMatch(/^rejected: invalid command: shell/);
  });

  it("a command over 4 MiB is rejected as too large", async () => {
    const p = await setup();
    p.send("commands.all", body({ request_id: "big", script: "x".repeat(4 * 1024 * 1024 + 10) }));
    await waitFor(() => p.out.length === 1, { what: "admission" });
    expect(p.out[0]?.rejection?.note).toMatch(/^rejected: command too large \(\d+ bytes\)$/);
  });

  it("local commands enter at the ledger step", async () => {
    const p = await setup();
    p.local$.next({
      command: sampleCommand({ requestId: "l-1", execId: "e-1" }),
      subject: "local:s1",
      receivedAt: 5,
    });
    await waitFor(() => p.out.length === 1, { what: "admission" });
    expect(p.out[0]).toMatchObject({ requestId: "l-1", source: "local" });
    expect(p.ledger.lookup("l-1")?.source).toBe("local");
  });
});
