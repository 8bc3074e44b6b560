import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { NODE_FLAGS } from "../../../src/launcher/nodeFlags.js";
import { REPO_ROOT } from "../../helpers/agentProcess.js";

describe("node flags of the agent process", () => {
  it("the systemd unit starts node with the same flags as the supervisor and the tests", () => {
    const unit = readFileSync(join(REPO_ROOT, "deploy", "systemd", "kanade-agent.service"), "utf8");
    const execStart = unit.split("\n").find((l) => l.startsWith("ExecStart="));
    expect(execStart).toBe(
      `ExecStart=/usr/bin/node ${NODE_FLAGS.join(" ")} /opt/kanade-agent/bin/kanade-agent.js --config /etc/kanade/agent.toml`,
    );
  });
});
