import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { summarizeInspectLog } from "../../src/services/inspect/inspectLog.js";
import { bootstrapKanade } from "../../src/services/nats/resources.js";
import { AgentProcess } from "../helpers/agentProcess.js";
import { NatsServer } from "../helpers/natsServer.js";
import { tempDir } from "../helpers/tmp.js";
import { waitFor } from "../helpers/waitFor.js";

const run = promisify(execFile);
let server: NatsServer | undefined;
let agent: AgentProcess | undefined;
let nc: NatsConnection | undefined;

afterEach(async () => {
  await agent?.stop().catch(() => {});
  await nc?.close().catch(() => {});
  await server?.stop();
  agent = undefined;
  nc = undefined;
  server = undefined;
});

describe("state machine inspection", () => {
  it("--inspect relays the replay machine going waitStream → waitConsumer → draining when EXEC appears", async () => {
    server = await NatsServer.start();
    agent = await AgentProcess.start({
      natsUrl: server.url,
      id: "PC-INSPECT",
      extraArgs: ["--inspect"],
    });
    const line = await agent.waitForLog({ msg: /state machine inspector/ }, 15_000);
    const wsUrl = (line.json as { ws: string }).ws;
    expect(wsUrl).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
    const values: string[] = [];
    const ws = new WebSocket(wsUrl);
    ws.on("message", (data) => {
      const e = JSON.parse(data.toString()) as {
        type: string;
        snapshot?: { value?: unknown };
        id?: string;
        sessionId?: string;
      };
      if (
        e.type === "@xstate.snapshot" &&
        typeof e.snapshot?.value === "string" &&
        ["waitStream", "waitConsumer", "catchingUp", "draining", "reopen"].includes(
          e.snapshot.value,
        )
      )
        values.push(e.snapshot.value);
    });
    await new Promise((r) => ws.once("open", r));
    await agent.waitForLog({ msg: "connected" }, 15_000);
    nc = await connect({ servers: server.url });
    await bootstrapKanade(nc, { resultOutput: false });
    await waitFor(() => values.includes("draining"), {
      timeoutMs: 20_000,
      what: "replay draining",
    });
    ws.close();
    // The relay replays what the agent sent before this receiver connected; the order holds.
    const firstDraining = values.indexOf("draining");
    expect(values.lastIndexOf("waitStream", firstDraining)).toBeGreaterThanOrEqual(0);
    expect(values.lastIndexOf("waitConsumer", firstDraining)).toBeGreaterThan(
      values.lastIndexOf("waitStream", firstDraining),
    );
    expect(values.lastIndexOf("catchingUp", firstDraining)).toBeGreaterThan(
      values.lastIndexOf("waitConsumer", firstDraining),
    );
  }, 60_000);

  it("--inspect-log records the connection machine through a broker restart, and `kanade inspect-log summarize` prints it", async () => {
    server = await NatsServer.start();
    const file = join(tempDir("inspect-log-"), "agent.inspect.jsonl");
    agent = await AgentProcess.start({
      natsUrl: server.url,
      id: "PC-ILOG",
      extraArgs: ["--inspect-log", file],
    });
    await agent.waitForLog({ msg: "connected" }, 15_000);
    await server.stop();
    await agent.waitForLog({ msg: "connection lost" }, 15_000);
    await server.restart();
    await agent.waitForLog({ msg: "reconnected" }, 30_000);
    await agent.stop();
    agent = undefined;

    const summary = summarizeInspectLog(readFileSync(file, "utf8").split("\n"));
    const conn = summary.get("agent/connection")?.map((c) => c.value);
    expect(conn).toBeDefined();
    const healthy = "open.connected.healthy";
    const i = conn!.indexOf(healthy);
    const j = conn!.indexOf("open.reconnecting", i);
    expect(i).toBeGreaterThan(conn!.indexOf("connecting"));
    expect(j).toBeGreaterThan(i);
    expect(conn!.indexOf(healthy, j)).toBeGreaterThan(j);
    expect(conn!.at(-1)).toMatch(/closed/);

    const { stdout } = await run(process.execPath, [
      "bin/kanade.js",
      "inspect-log",
      "summarize",
      file,
      "--actor",
      "connection",
    ]);
    expect(stdout).toContain("agent/connection");
    expect(stdout).toMatch(/\d{4}-\d\d-\d\dT[\d:.]+Z {2}open\.reconnecting/);
  }, 90_000);
});
