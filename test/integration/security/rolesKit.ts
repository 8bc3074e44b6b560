// A nats-server running deploy/nats-server.roles.conf, and clients per role.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { REPO_ROOT } from "../../helpers/agentProcess.js";
import { NatsServer } from "../../helpers/natsServer.js";

export const ROLES_CONF = join(REPO_ROOT, "deploy", "nats-server.roles.conf");

export interface RolesServer {
  server: NatsServer;
  passwords: { agent: string; backend: string; operator: string };
  connectAs(role: "agent" | "backend" | "operator"): Promise<NatsConnection>;
  /** Lines of the server log that report a permissions violation. */
  violations(): string[];
  /**
   * The violations logged so far, once the log has caught up: a sentinel violation is provoked
   * and awaited (the server logs in order), then left out.
   */
  settledViolations(): Promise<string[]>;
}

/** The deploy file as is, with the passwords defined as variables in front of it. */
export async function startRolesServer(): Promise<RolesServer> {
  const passwords = {
    agent: `agent-${randomBytes(9).toString("base64url")}`,
    backend: `backend-${randomBytes(9).toString("base64url")}`,
    operator: `operator-${randomBytes(9).toString("base64url")}`,
  };
  const config = [
    `KANADE_AGENT_PASSWORD: "${passwords.agent}"`,
    `KANADE_BACKEND_PASSWORD: "${passwords.backend}"`,
    `KANADE_OPERATOR_PASSWORD: "${passwords.operator}"`,
    readFileSync(ROLES_CONF, "utf8"),
  ].join("\n");
  const server = await NatsServer.start({ config });
  const connectAs = (role: keyof typeof passwords) =>
    connect({
      servers: server.url,
      user: role,
      pass: passwords[role],
      timeout: 5_000,
      reconnect: false,
    });
  const violations = () => server.logLines.filter((l) => /Violation/i.test(l));
  return {
    server,
    passwords,
    connectAs,
    violations,
    async settledViolations() {
      const sentinel = `kanade.sentinel.${randomBytes(6).toString("hex")}`;
      const nc = await connectAs("agent");
      try {
        nc.publish(sentinel, "");
        await nc.flush().catch(() => {});
        await server.waitForLog(new RegExp(`Violation.*${sentinel.replace(/\./g, "\\.")}`));
      } finally {
        await nc.close().catch(() => {});
      }
      return violations().filter((l) => !l.includes(sentinel));
    },
  };
}
