import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { afterEach, describe, expect, it } from "vitest";
import {
  commandsAll,
  commandsPc,
  replayConsumerName,
  STREAM_EXEC,
} from "../../src/services/nats/subjects.js";
import { encodeCommand } from "../../src/services/wire/index.js";
import { AgentScenario } from "../helpers/agentScenario.js";
import { waitFor } from "../helpers/waitFor.js";

let s: AgentScenario | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

/** Retained commands for other PCs: the durable must wade through them (9.6). */
const OTHERS = 3_000;
/** How soon a deleted durable must be noticed and re-created. */
const RECREATE_MS = Number(process.env.RECREATE_MS ?? 10_000);

describe("replay consumer faults (behavior.md §9)", () => {
  // nats-server 2.9 sends nothing to pending pulls when a durable is deleted; the agent checks
  // for its durable every 5 s while draining, so the re-open comes within RECREATE_MS.
  it("durable deleted while draining: re-created, and nothing runs twice", async () => {
    s = await AgentScenario.start({ startAgent: false });
    const mine = s.runCommand("echo mine");
    const broadcast = s.runCommand("echo broadcast");
    const others = [];
    for (let i = 0; i < OTHERS; i++) {
      const other = s.runCommand("echo other", { requestId: `other-${i}` });
      others.push(other);
      s.nc.publish(commandsPc(`other-pc-${i}`), JSON.stringify(encodeCommand(other)));
      if (i === OTHERS / 2) s.nc.publish(commandsPc(s.pcId), JSON.stringify(encodeCommand(mine)));
    }
    s.nc.publish(commandsAll(), JSON.stringify(encodeCommand(broadcast)));
    await s.nc.flush();

    await s.agent.start();
    await s.waitReady();
    // Delete it once the agent is pulling from it (a durable deleted before the first pull is
    // noticed at once: the consumer lookup fails).
    await waitFor(async () => ((await s!.replayConsumer())?.delivered ?? 0) > 0, {
      intervalMs: 5,
      what: "the agent to pull from its durable",
    });
    const jsm = await jetstreamManager(s.nc);
    await jsm.consumers.delete(STREAM_EXEC, replayConsumerName(s.pcId));
    const deletedAt = s.agent.mark();

    await s.agent.waitForLog({ msg: "replay consumer ended; re-opening" }, RECREATE_MS);
    const again = await s.agent.waitForLog({ msg: "replay consumer ready" }, 5_000, {
      after: deletedAt,
    });
    expect(again.json).toMatchObject({ outcome: "created", deliver_policy: "last_per_subject" });

    const rMine = await s.waitStreamResult(mine.requestId, 15_000);
    const rAll = await s.waitStreamResult(broadcast.requestId, 15_000);
    expect(rMine.stdout).toBe("mine\n");
    expect(rAll.stdout).toBe("broadcast\n");
    await s.waitReplayDrained(20_000);
    await s.waitOutboxesEmpty();

    expect(s.runsOf(mine.requestId)).toBe(1);
    expect(s.runsOf(broadcast.requestId)).toBe(1);
    expect((await s.streamResult(mine.requestId)).count).toBe(1);
    expect((await s.streamResult(broadcast.requestId)).count).toBe(1);
    // Commands for other PCs were acked and dropped, never admitted nor run.
    expect(s.ledgerRequestIds()).toHaveLength(2);
    expect(others.some((o) => s!.runsOf(o.requestId) > 0)).toBe(false);
  });

  it("EXEC missing at boot: the agent waits, then replays what the stream retains, once each", async () => {
    s = await AgentScenario.start({ bootstrap: false });
    // Without streams, a core subscriber on results.> would be the only "responder" to the
    // agent's JetStream publish and hold it for the whole 30 s PubAck timeout; a backend without
    // streams has no such subscriber, so the publish fails at once with no responders.
    s.results.stop();
    s.events.stop();
    await s.agent.waitForLog({ msg: "connected" }, 10_000);

    // Before the set exists: delivered live only; its result waits in the outbox for RESULTS.
    const early = s.runCommand("echo early");
    await s.publish(early);
    await s.agent.waitForLog({ msg: "command finished", request_id: early.requestId });
    // The broker refuses it (no RESULTS): the result the ledger held goes to the outbox file.
    await waitFor(() => s!.outboxFiles().results.length === 1, {
      what: "the result to wait in the outbox",
    });

    await s.bootstrap();
    // Published once EXEC exists: retained, so it arrives live and by replay.
    const late = s.runCommand("echo late");
    await s.publish(late);
    await s.waitReady(20_000);

    const rEarly = await s.waitStreamResult(early.requestId, 15_000);
    const rLate = await s.waitStreamResult(late.requestId, 15_000);
    expect(rEarly.stdout).toBe("early\n");
    expect(rLate.stdout).toBe("late\n");
    const seq = await s.execSeq(commandsPc(s.pcId));
    await s.waitReplayDrained();
    expect((await s.replayConsumer())?.ackFloor).toBeGreaterThanOrEqual(seq);
    await s.agent.waitForLog({ msg: "duplicate command dropped", request_id: late.requestId });
    await s.waitOutboxesEmpty();
    expect(s.runsOf(early.requestId)).toBe(1);
    expect(s.runsOf(late.requestId)).toBe(1);
    expect((await s.streamResult(early.requestId)).count).toBe(1);
    expect((await s.streamResult(late.requestId)).count).toBe(1);
  });

  // A SIGKILLed agent leaves a pull on its durable until the broker notices the connection is
  // gone; a command published meanwhile is handed to it, and nobody acks it. The broker gives it
  // again only after the 30 s ack wait: the restarted agent reads it back from the stream instead.
  it("a command handed to a dead process's pull runs at the restart, not after the ack wait", async () => {
    s = await AgentScenario.start();
    await s.agent.stop();
    const consumer = await jetstream(s.nc).consumers.get(STREAM_EXEC, replayConsumerName(s.pcId));
    // The dead process's pull, played by the test client: it takes the command and never acks.
    const handed = consumer.next({ expires: 10_000 });
    await waitFor(async () => ((await s!.replayConsumer())?.numWaiting ?? 0) > 0, {
      what: "the test's pull to wait on the durable",
    });
    const cmd = s.runCommand("echo late");
    await s.publish(cmd);
    const held = await handed;
    expect(held?.subject).toBe(commandsPc(s.pcId));
    expect((await s.replayConsumer())?.numAckPending).toBe(1);

    const restartedAt = performance.now();
    await s.restartAgent();
    const result = await s.waitStreamResult(cmd.requestId, 10_000);
    // Well within the 30 s ack wait, start-up included.
    expect(performance.now() - restartedAt).toBeLessThan(10_000);
    expect(result.stdout).toBe("late\n");
    expect(s.runsOf(cmd.requestId)).toBe(1);
    const line = await s.agent.waitForLog({ msg: /^read back commands the durable handed out/ });
    expect(line.json).toMatchObject({ read: 1, gone: 0, left_to_ack_wait: 0 });

    // The broker's own redelivery (a nak now instead of the ack wait) is a duplicate: acked, not run.
    held!.nak();
    await s.waitReplayDrained(10_000);
    expect(s.runsOf(cmd.requestId)).toBe(1);
    expect((await s.streamResult(cmd.requestId)).count).toBe(1);
  });

  // The broker hands a command to the pull of a connection that is black-holed (it still thinks
  // the client is there); the link is then cut. Without reading back, the command would wait for
  // the 30 s ack wait after its delivery into the hole.
  it("a command handed to the pull of a cut connection runs after the reconnect, not after the ack wait", async () => {
    s = await AgentScenario.start({ proxy: true });
    await waitFor(
      async () => {
        const c = await s!.replayConsumer();
        return c !== null && c.numAckPending === 0 && c.numWaiting > 0;
      },
      { what: "the durable to be idle, with the agent's pull waiting on it" },
    );
    s.proxy!.blackhole(true);
    const cmd = s.runCommand("echo through the hole");
    await s.publish(cmd);
    await waitFor(async () => (await s!.replayConsumer())?.numAckPending === 1, {
      what: "the broker to hand the command to the black-holed pull",
    });
    const mark = s.agent.mark();
    s.proxy!.cut();
    s.proxy!.blackhole(false);

    await s.agent.waitForLog({ msg: "reconnected" }, 15_000, { after: mark });
    const result = await s.waitStreamResult(cmd.requestId, 8_000);
    expect(result.stdout).toBe("through the hole\n");
    await s.agent.waitForLog({ msg: /^connection back: reading back/ }, 1_000, { after: mark });
    expect(s.runsOf(cmd.requestId)).toBe(1);
    expect((await s.streamResult(cmd.requestId)).count).toBe(1);
  });
});
