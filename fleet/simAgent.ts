// One simulated agent: the agent's NATS behaviour without processes or disk. Same connection
// options (toConnectionOptions), same live subjects, same replay durable (ensureReplayConsumer /
// consumeReplay), heartbeats on the agent's schedule, and a no-op "execution" that publishes an
// ExecResult with Nats-Msg-Id at once.

import { randomUUID } from "node:crypto";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import type { AgentConfig } from "../src/services/config/index.js";
import { toConnectionOptions } from "../src/services/config/index.js";
import { consumeReplay, ensureReplayConsumer } from "../src/services/nats/replayConsumer.js";
import {
  classifyCommandSubject,
  commandsAll,
  commandsPc,
  heartbeatSubject,
  resultSubject,
} from "../src/services/nats/subjects.js";
import { firstTickSpreadMs } from "../src/services/perf/firstTickSpread.js";
import type { Clock } from "../src/services/time/clock.js";
import {
  classifyCommandBody,
  encodeExecResult,
  encodeHeartbeat,
} from "../src/services/wire/index.js";

export interface SimAgentOptions {
  pcId: string;
  /** The URL the agent connects to (its counting proxy). */
  url: string;
  heartbeatMs: number;
  clock: Clock;
  agentVersion: string;
}

/** A request_id is remembered this many times over (the real agent keeps 10 000 on disk). */
const SEEN_BOUND = 10_000;
const RESULT_PUBLISH_ATTEMPTS = 10;

export class SimAgent {
  readonly pcId: string;
  #nc: NatsConnection | undefined;
  #connected = false;
  #stopped = false;
  #beatTimer: NodeJS.Timeout | undefined;
  readonly #subs: Subscription[] = [];
  readonly #seen = new Set<string>();
  #stopReplay: (() => void) | undefined;
  /** Times the connection came back (nats.js `reconnect` status). */
  readonly reconnectedAt: number[] = [];
  /** Times the replay durable was (re)ensured. */
  readonly replayReadyAt: number[] = [];
  heartbeats = 0;
  resultsPublished = 0;
  resultFailures = 0;
  duplicatesDropped = 0;

  constructor(readonly opts: SimAgentOptions) {
    this.pcId = opts.pcId;
  }

  get connected(): boolean {
    return this.#connected;
  }

  async start(): Promise<void> {
    const config: AgentConfig = {
      configFile: "<fleet simulator>",
      pcId: this.pcId,
      pcIdKvSafe: true,
      natsUrls: [this.opts.url],
      dataDir: "",
      log: { path: "", level: "error", keepDays: 0 },
      nats: { auth: { mode: "none" } },
    };
    const nc = await connect(await toConnectionOptions(config));
    this.#nc = nc;
    this.#connected = true;
    void this.#watchStatus(nc);
    // Live subscriptions first, then flush: a command published right after is seen (1.9).
    for (const subject of [commandsAll(), commandsPc(this.pcId)]) {
      this.#subs.push(
        nc.subscribe(subject, {
          callback: (err, m) => {
            if (!err) this.#intake(m.subject, m.data);
          },
        }),
      );
    }
    await nc.flush();
    this.#scheduleBeat(firstTickSpreadMs(this.pcId, "heartbeat", this.opts.heartbeatMs));
    void this.#replayLoop(nc);
  }

  async #watchStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") this.#connected = false;
      if (s.type === "reconnect") {
        this.#connected = true;
        this.reconnectedAt.push(this.opts.clock.now());
        // 12.1: a beat at once after each reconnect, then the period again.
        this.#scheduleBeat(0);
      }
    }
  }

  #scheduleBeat(delayMs: number): void {
    if (this.#beatTimer) clearTimeout(this.#beatTimer);
    if (this.#stopped) return;
    this.#beatTimer = setTimeout(() => {
      this.#beat();
      this.#scheduleBeat(this.opts.heartbeatMs);
    }, delayMs);
  }

  #beat(): void {
    const nc = this.#nc;
    if (!nc || !this.#connected) return;
    const hb = encodeHeartbeat({
      pcId: this.pcId,
      at: this.opts.clock.now(),
      agentVersion: this.opts.agentVersion,
    });
    try {
      nc.publish(heartbeatSubject(this.pcId), JSON.stringify(hb));
      this.heartbeats++;
    } catch {
      // Closed meanwhile; beats are never queued (2.4).
    }
  }

  /** 9.2–9.4: ensure, consume until it ends, pause 1 s, again. */
  async #replayLoop(nc: NatsConnection): Promise<void> {
    let failures = 0;
    while (!this.#stopped) {
      try {
        await ensureReplayConsumer(nc, this.pcId, () => this.#seen.size === 0);
        this.replayReadyAt.push(this.opts.clock.now());
        failures = 0;
        const run = consumeReplay(nc, this.pcId, (m) => {
          this.#intake(m.subject, m.data);
          m.ack();
        });
        this.#stopReplay = run.stop;
        await run.done;
      } catch {
        failures++;
      }
      if (this.#stopped) return;
      await sleep(Math.min(1_000 * 2 ** Math.min(failures, 8), 300_000));
    }
  }

  #intake(subject: string, data: Uint8Array): void {
    const to = classifyCommandSubject(subject);
    if (to.kind === "group" || to.kind === "other") return;
    if (to.kind === "pc" && to.pcId !== this.pcId) return;
    const body = classifyCommandBody(data);
    if (body.kind !== "ok") return;
    const rid = body.command.requestId;
    if (this.#seen.has(rid)) {
      this.duplicatesDropped++;
      return;
    }
    this.#seen.add(rid);
    if (this.#seen.size > SEEN_BOUND) this.#seen.delete(this.#seen.values().next().value!);
    const now = this.opts.clock.now();
    const resultId = randomUUID();
    const result = encodeExecResult({
      resultId,
      requestId: rid,
      execId: body.command.execId ?? undefined,
      pcId: this.pcId,
      exitCode: 0,
      stdout: "",
      stderr: "",
      startedAt: now,
      finishedAt: now,
      manifestId: body.command.id,
    });
    void this.#publishResult(rid, resultId, JSON.stringify(result));
  }

  /** 8.3 in short: Nats-Msg-Id = result_id, 30 s PubAck wait, retried (no disk outbox here). */
  async #publishResult(rid: string, resultId: string, payload: string): Promise<void> {
    const nc = this.#nc;
    if (!nc) return;
    const js = jetstream(nc, { timeout: 30_000 });
    for (let attempt = 1; attempt <= RESULT_PUBLISH_ATTEMPTS && !this.#stopped; attempt++) {
      try {
        await js.publish(resultSubject(rid), payload, { msgID: resultId });
        this.resultsPublished++;
        return;
      } catch {
        await sleep(1_000 * attempt);
      }
    }
    this.resultFailures++;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#beatTimer) clearTimeout(this.#beatTimer);
    this.#stopReplay?.();
    for (const s of this.#subs) s.unsubscribe();
    await this.#nc?.close().catch(() => {});
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
