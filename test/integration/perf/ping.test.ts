import { connect } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import { pingSubject } from "../../../src/services/nats/subjects.js";
import { decodeHeartbeat, parseJson } from "../../../src/services/wire/index.js";
import { startPingResponder } from "../../../src/wiring/pingResponder.js";
import { NatsServer } from "../../helpers/natsServer.js";
import { waitFor } from "../../helpers/waitFor.js";
import { agentLink, type Cleanup, observer, tickerContext } from "./env.js";

const cleanups: Cleanup[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const PERF_MEMBERS = [
  "agent_cpu_pct",
  "agent_rss_bytes",
  "agent_disk_read_bytes",
  "agent_disk_written_bytes",
];

async function setUp(pcId: string) {
  const server = await NatsServer.start();
  cleanups.push(() => server.stop());
  const obs = await observer(server, cleanups);
  const agent = await agentLink(server.url, cleanups);
  const ctx = tickerContext(pcId, agent.link, {}, ["0.2.0", "0.1.0"]);
  const responder = startPingResponder(ctx);
  cleanups.push(() => responder.stop());
  const subject = pingSubject(pcId);
  /** The reply, once the responder's subscription is in place (until then: no responders). */
  const ping = async (timeoutMs = 5_000) => {
    let body: unknown;
    await waitFor(
      async () => {
        const reply = await obs.request(subject, "", { timeout: 500 });
        const parsed = parseJson(reply.data);
        if (!parsed.ok) throw new Error(`reply is not JSON: ${parsed.error.message}`);
        body = parsed.value;
        return true;
      },
      { timeoutMs, what: `a reply on ${subject}` },
    );
    return body as Record<string, unknown>;
  };
  return { server, obs, agent, ctx, responder, subject, ping };
}

describe("ping responder", () => {
  it("answers with a fresh heartbeat without the agent's perf members", async () => {
    const t = await setUp("ping-pc.1");
    const before = Date.now();
    const body = await t.ping();
    const decoded = decodeHeartbeat(body);
    expect(decoded.ok).toBe(true);
    expect(body).toMatchObject({
      pc_id: "ping-pc.1",
      agent_version: "9.8.7-test",
      hostname: expect.any(String),
      os_family: expect.any(String),
      quarantined_versions: ["0.1.0", "0.2.0"],
    });
    for (const member of PERF_MEMBERS) expect(body).not.toHaveProperty(member);
    if (decoded.ok) expect(decoded.value.at).toBeGreaterThanOrEqual(before - 1_000);
    // Each reply is built on request.
    const again = await t.ping();
    expect(Date.parse(String(again.at))).toBeGreaterThanOrEqual(Date.parse(String(body.at)));
  });

  it("ignores a ping without a reply subject and keeps answering", async () => {
    const t = await setUp("ping-noreply");
    await t.ping();
    const all: string[] = [];
    const sub = t.obs.subscribe(">", {
      callback: (_, m) => {
        all.push(m.subject);
      },
    });
    cleanups.push(() => sub.unsubscribe());
    await t.obs.flush();
    t.obs.publish(t.subject, "");
    await t.obs.flush();
    await t.ping();
    // The bare ping, then one request and its reply: nothing was sent for the bare ping.
    expect(all.filter((s) => !s.startsWith("_INBOX."))).toEqual([t.subject, t.subject]);
    expect(all.filter((s) => s.startsWith("_INBOX."))).toHaveLength(1);
  });

  it("moves to a rebuilt connection and stops answering when stopped", async () => {
    const t = await setUp("ping-rebuilt");
    await t.ping();
    const rebuilt = await connect({ servers: t.server.url });
    cleanups.push(() => rebuilt.close());
    t.agent.link.attach(rebuilt);
    // The responder subscribed on the rebuilt connection; a flush makes sure the server has it.
    await rebuilt.flush();
    await t.agent.nc.close();
    await t.ping();

    t.responder.stop();
    await rebuilt.flush(); // the server has the unsubscription before the request
    await expect(t.obs.request(t.subject, "", { timeout: 1_000 })).rejects.toThrow(
      /no responders/i,
    );
  });
});
