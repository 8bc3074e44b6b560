// The fleet simulator's agent against a real nats-server: what its figures rest on.

import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import { CountingProxy } from "../../../fleet/countingProxy.js";
import { SimAgent } from "../../../fleet/simAgent.js";
import { bootstrapKanade } from "../../../src/services/nats/resources.js";
import { commandsAll, resultSubject, STREAM_RESULTS } from "../../../src/services/nats/subjects.js";
import { systemClock } from "../../../src/services/time/clock.js";
import { encodeCommand } from "../../../src/services/wire/index.js";
import { sampleCommand } from "../../helpers/commands.js";
import { NatsServer } from "../../helpers/natsServer.js";
import { waitFor } from "../../helpers/waitFor.js";

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f().catch(() => {});
});

describe("simulated agents", () => {
  it("answer a broadcast once each (live and replay copies deduplicated), through counting proxies", async () => {
    const server = await NatsServer.start();
    cleanup.push(() => server.stop());
    const nc = await connect({ servers: server.url });
    cleanup.push(() => nc.close());
    await bootstrapKanade(nc);
    const proxies: CountingProxy[] = [];
    const agents: SimAgent[] = [];
    for (let i = 0; i < 3; i++) {
      const proxy = await CountingProxy.start(server.port);
      cleanup.push(() => proxy.close());
      const agent = new SimAgent({
        pcId: `sim-${i}`,
        url: proxy.url,
        heartbeatMs: 60_000,
        clock: systemClock,
        agentVersion: "0.0.0-test",
      });
      cleanup.push(() => agent.stop());
      await agent.start();
      proxies.push(proxy);
      agents.push(agent);
    }
    await waitFor(() => agents.every((a) => a.replayReadyAt.length > 0), { what: "durables" });

    const requestId = "fleet-test-1";
    const body = encodeCommand(sampleCommand({ requestId }));
    nc.publish(commandsAll(), JSON.stringify(body));
    await nc.flush();
    const jsm = await jetstreamManager(nc);
    const subject = resultSubject(requestId);
    let count = 0;
    await waitFor(
      async () => {
        const info = await jsm.streams.info(STREAM_RESULTS, { subjects_filter: subject });
        count = info.state.subjects?.[subject] ?? 0;
        return count >= 3;
      },
      { what: "3 results in RESULTS" },
    );
    // Both copies (live and replay) reached every agent; each answered once.
    await waitFor(() => agents.every((a) => a.duplicatesDropped >= 1), { what: "replay copies" });
    // The stream can hold a result before its publisher has read the PubAck (a loaded machine).
    await waitFor(() => agents.every((a) => a.resultsPublished >= 1), { what: "PubAcks read" });
    expect(count).toBe(3);
    expect(agents.map((a) => a.resultsPublished)).toEqual([1, 1, 1]);
    expect(proxies.map((p) => p.acceptedAt.length)).toEqual([1, 1, 1]);
  });
});
