import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import { createAgentLogger } from "../../../src/services/logging/agentLogger.js";
import { silentLogger } from "../../../src/services/logging/logger.js";
import { NatsLink } from "../../../src/services/nats/link.js";
import { logsFetchSubject } from "../../../src/services/nats/subjects.js";
import { startLogsResponder } from "../../../src/services/responders/logsFetch.js";
import { NatsServer } from "../../helpers/natsServer.js";
import { tempDir } from "../../helpers/tmp.js";

const PC = "PC-LOGS-1";
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function conn(server: NatsServer): Promise<NatsConnection> {
  const nc = await connect({ servers: server.url });
  cleanups.push(() => nc.close());
  return nc;
}

interface Setup {
  server: NatsServer;
  link: NatsLink;
  agentNc: NatsConnection;
  client: NatsConnection;
  fetch(body: string | Uint8Array): Promise<Buffer>;
}

/** A broker, an agent-side connection with the responder on it, and a client. */
async function setUp(logPath: string, keepDays: number, serverConfig?: string): Promise<Setup> {
  const server = await NatsServer.start(serverConfig === undefined ? {} : { config: serverConfig });
  cleanups.push(() => server.stop());
  const agentNc = await conn(server);
  const link = new NatsLink();
  link.attach(agentNc);
  const responder = startLogsResponder({ link, pcId: PC, logPath, keepDays, log: silentLogger() });
  cleanups.push(() => responder.stop());
  // The SUB is on the wire once a flush round trip is done.
  await agentNc.flush();
  const client = await conn(server);
  return {
    server,
    link,
    agentNc,
    client,
    async fetch(body) {
      const m = await client.request(logsFetchSubject(PC), body, { timeout: 5_000 });
      return Buffer.from(m.data);
    },
  };
}

function logDirWith(lines: readonly string[]): string {
  const dir = tempDir();
  writeFileSync(join(dir, "agent.2026-05-15.log"), "yesterday\n");
  writeFileSync(join(dir, "agent.2026-05-16.log"), `${lines.join("\n")}\n`);
  return join(dir, "agent.log");
}

const numbered = (n: number) => Array.from({ length: n }, (_, i) => `line ${i + 1}`);

describe("logs.fetch responder", () => {
  it("returns exactly the last tail_lines lines of the log the agent writes", async () => {
    const dir = tempDir();
    const path = join(dir, "agent.log");
    const agentLog = createAgentLogger({
      level: "info",
      path,
      keepDays: 7,
      stdout: { write: () => {} },
    });
    cleanups.push(() => agentLog.close());
    for (let i = 1; i <= 20; i++) agentLog.log.info({ i }, `event ${i}`);
    const { fetch } = await setUp(path, 7);

    const text = (await fetch('{"tail_lines":5}')).toString("utf8");
    expect(text.endsWith("\n")).toBe(true);
    const lines = text.slice(0, -1).split("\n");
    expect(lines).toHaveLength(5);
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual([
      "event 16",
      "event 17",
      "event 18",
      "event 19",
      "event 20",
    ]);
  });

  it("serves the last 500 lines for a body that is not JSON, and nothing for tail_lines 0", async () => {
    const all = numbered(600);
    const { fetch } = await setUp(logDirWith(all), 3);
    expect((await fetch("not json")).toString("utf8")).toBe(`${all.slice(-500).join("\n")}\n`);
    expect((await fetch("{}")).toString("utf8")).toBe(`${all.slice(-500).join("\n")}\n`);
    expect((await fetch('{"tail_lines":0}')).length).toBe(0);
  });

  it("caps a reply over 1 MiB at 800 KiB from the front at a character boundary", async () => {
    // Lines of 3-byte and 4-byte characters whose cut point lands inside a character.
    const lines = Array.from({ length: 4_000 }, (_, i) => `${i} ${"€".repeat(100)}😀`);
    const full = `${lines.join("\n")}\n`;
    const fullBytes = Buffer.from(full);
    expect(fullBytes.length).toBeGreaterThan(1024 * 1024);
    // The test is only worth something if 800 KiB from the end is inside a character.
    expect((fullBytes[fullBytes.length - 819_200] ?? 0) & 0xc0).toBe(0x80);
    const { fetch } = await setUp(logDirWith(lines), 3);

    const body = await fetch('{"tail_lines":4000}');
    expect(body.length).toBeLessThan(819_200);
    expect(body.length).toBeGreaterThan(819_200 - 4);
    const text = new TextDecoder("utf-8", { fatal: true }).decode(body);
    expect(full.endsWith(text)).toBe(true);
  });

  it("stays under the server's max_payload − 1024", async () => {
    const lines = numbered(20_000);
    const { fetch } = await setUp(logDirWith(lines), 3, "max_payload: 65536\n");
    const body = await fetch('{"tail_lines":20000}');
    expect(body.length).toBe(65_536 - 1_024);
    expect(body.toString("utf8").endsWith("line 20000\n")).toBe(true);
  });

  it("says so when logging to stdout only", async () => {
    const { fetch } = await setUp(logDirWith(numbered(10)), 0);
    expect((await fetch('{"tail_lines":5}')).toString("utf8")).toBe(
      "logs.fetch: logging to stdout only",
    );
  });

  it("answers an error text when there is no log file", async () => {
    const path = join(tempDir(), "agent.log");
    const { fetch } = await setUp(path, 3);
    expect((await fetch("{}")).toString("utf8")).toBe(`logs.fetch: no log file at ${path}`);
  });

  it("answers two concurrent requests each with its own tail", async () => {
    const all = numbered(50_000);
    const { fetch } = await setUp(logDirWith(all), 3);
    const order: string[] = [];
    const [big, small] = await Promise.all([
      fetch('{"tail_lines":40000}').finally(() => order.push("big")),
      fetch('{"tail_lines":3}').finally(() => order.push("small")),
    ]);
    // One at a time: the small request, sent second, waits for the big one.
    expect(order).toEqual(["big", "small"]);
    expect(big.toString("utf8")).toBe(`${all.slice(-40_000).join("\n")}\n`);
    expect(small.toString("utf8")).toBe("line 49998\nline 49999\nline 50000\n");
  });

  it("follows the link to a new connection", async () => {
    const s = await setUp(logDirWith(numbered(10)), 3);
    await s.agentNc.close();
    s.link.detach();
    const next = await conn(s.server);
    s.link.attach(next);
    await next.flush();
    expect((await s.fetch('{"tail_lines":1}')).toString("utf8")).toBe("line 10\n");
  });
});
