import { randomBytes } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterEach, describe, expect, it } from "vitest";
import { commandsAll, commandsPc, STREAM_RESULTS } from "../../../src/services/nats/subjects.js";
import { encodeCommand } from "../../../src/services/wire/index.js";
import { AgentScenario } from "../../helpers/agentScenario.js";

let s: AgentScenario | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

async function resultsInStream(sc: AgentScenario): Promise<number> {
  const jsm = await jetstreamManager(sc.nc);
  return (await jsm.streams.info(STREAM_RESULTS)).state.messages;
}

describe("bad command input (behavior.md §19, 5.2 step 3)", () => {
  it("drops undecodable bodies with a warning, keeps running, answers later commands", async () => {
    s = await AgentScenario.start();
    const subject = commandsPc(s.pcId);
    const mark = s.agent.mark();

    // The first drop is logged with its subject; later ones within a minute are rate-limited.
    await s.publishRaw("{not json", subject);
    const warned = await s.agent.waitForLog({ msg: "malformed command dropped" }, 5_000, {
      after: mark,
    });
    expect(warned.json).toMatchObject({ subject, source: expect.stringMatching(/live|replay/) });
    expect(String(warned.json?.reason)).not.toBe("");

    await s.publishRaw("[1,2,3]", subject);
    await s.publishRaw(JSON.stringify({ request_id: 42, id: "x" }), commandsAll());
    await s.publishRaw(JSON.stringify({ request_id: "bad token with spaces" }), subject);
    // A whole valid command without request_id: nothing to answer on, no result.
    const noId = encodeCommand(s.runCommand("echo ran"));
    delete noId.request_id;
    await s.publishRaw(JSON.stringify(noId), subject);
    await s.publishRaw(randomBytes(900 * 1024), subject);

    // Unknown shell with a valid request_id: rejected with a result.
    const unknownShell = s.runCommand("echo ran");
    await s.publishRaw(JSON.stringify({ ...encodeCommand(unknownShell), shell: "fish" }), subject);
    const rejected = await s.waitResult(unknownShell.requestId);
    expect(rejected.exit_code).toBe(122);
    expect(rejected.stderr).toMatch(/^rejected: invalid command: .*shell/);
    expect(rejected.skipped).toBe(true);
    await s.agent.waitForLog({
      msg: "invalid command: answering exit 122",
      request_id: unknownShell.requestId,
      subject,
    });

    // The agent is still up and the next valid command works.
    const ok = s.runCommand("echo fine");
    await s.publish(ok);
    const r = await s.waitResult(ok.requestId);
    expect(r.exit_code).toBe(0);
    expect(r.stdout).toBe("fine\n");
    expect(s.agent.running).toBe(true);

    // Everything published before `ok` was handled before it (one live subscription, in order;
    // replayed copies are deduplicated or dropped): only the two answers exist.
    await s.waitReplayDrained();
    await s.waitOutboxesEmpty();
    expect(await resultsInStream(s)).toBe(2);
    expect(s.runsOf(unknownShell.requestId)).toBe(0);
    expect(s.runsOf(ok.requestId)).toBe(1);
    expect(s.ledgerRequestIds()).toHaveLength(2);
  });
});
