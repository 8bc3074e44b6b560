import { describe, expect, it } from "vitest";
import {
  CONFIG_KEY_GLOBAL,
  classifyCommandSubject,
  commandsAll,
  commandsGroup,
  commandsPc,
  commandsWildcard,
  configGroupKey,
  configPcKey,
  eventStartedSubject,
  eventsStartedForExec,
  eventsStartedWildcard,
  execIdFromKillSubject,
  heartbeatSubject,
  heartbeatWildcard,
  hostPerfSubject,
  hostPerfWildcard,
  inventoryRequestSubject,
  inventorySubject,
  inventoryWildcard,
  KV_AGENT_CONFIG,
  KV_AGENT_GROUPS,
  KV_AGENTS_STATE,
  KV_JOBS,
  KV_JOBS_YAML,
  KV_SCHEDULES,
  KV_SCHEDULES_YAML,
  KV_SCRIPT_CURRENT,
  KV_SCRIPT_STATUS,
  killSubject,
  killWildcard,
  logsFetchSubject,
  OBJ_AGENT_RELEASES,
  OBJ_RESULT_OUTPUT,
  pingSubject,
  processPerfSubject,
  processPerfWildcard,
  replayConsumerName,
  resultOutputKey,
  resultSubject,
  resultsWildcard,
  STREAM_SUBJECTS,
  SubjectError,
  stateRequestSubject,
  validateGroup,
  validatePcId,
} from "../../../src/services/nats/subjects.js";

describe("subject builders (wire §2)", () => {
  it("builds every agent subject exactly", () => {
    expect(commandsAll()).toBe("commands.all");
    expect(commandsPc("PC1234")).toBe("commands.pc.PC1234");
    expect(commandsGroup("canary")).toBe("commands.group.canary");
    expect(commandsWildcard()).toBe("commands.>");
    expect(killSubject("0b5c-11")).toBe("kill.0b5c-11");
    expect(pingSubject("PC1")).toBe("agents.PC1.ping");
    expect(inventoryRequestSubject("PC1")).toBe("agents.PC1.inventory");
    expect(stateRequestSubject("PC1")).toBe("agents.PC1.state");
    expect(logsFetchSubject("PC1")).toBe("logs.fetch.PC1");
    expect(resultSubject("r-1")).toBe("results.r-1");
    expect(eventStartedSubject("e-1", "PC1")).toBe("events.started.e-1.PC1");
    expect(heartbeatSubject("PC1")).toBe("heartbeat.PC1");
    expect(hostPerfSubject("PC1")).toBe("host_perf.PC1");
    expect(processPerfSubject("PC1")).toBe("process_perf.PC1");
    expect(inventorySubject("PC1")).toBe("inventory.PC1.hw");
  });

  it("keeps a dotted pc_id or group as several tokens and preserves case", () => {
    expect(commandsPc("pc1.corp.local")).toBe("commands.pc.pc1.corp.local");
    expect(commandsGroup("site.tokyo")).toBe("commands.group.site.tokyo");
    expect(eventStartedSubject("e-1", "pc1.corp.local")).toBe("events.started.e-1.pc1.corp.local");
    expect(heartbeatSubject("MixedCase")).toBe("heartbeat.MixedCase");
  });

  it("provides the wildcards a harness or backend subscribes to", () => {
    expect(heartbeatWildcard()).toBe("heartbeat.>");
    expect(hostPerfWildcard()).toBe("host_perf.>");
    expect(processPerfWildcard()).toBe("process_perf.>");
    expect(resultsWildcard()).toBe("results.>");
    expect(eventsStartedWildcard()).toBe("events.started.>");
    expect(eventsStartedForExec("e-1")).toBe("events.started.e-1.>");
    expect(inventoryWildcard()).toBe("inventory.>");
    expect(killWildcard()).toBe("kill.*");
  });

  it("refuses an exec_id or request_id that is not exactly one token", () => {
    expect(() => killSubject("a.b")).toThrow(SubjectError);
    expect(() => killSubject("a.b")).toThrow(/invalid exec_id "a\.b": must be one subject token/);
    expect(() => resultSubject("")).toThrow(/invalid request_id "": must not be empty/);
    expect(() => resultSubject("r>")).toThrow(/request_id/);
    expect(() => eventStartedSubject("x y", "PC1")).toThrow(/exec_id .*whitespace/);
    expect(() => resultSubject("r".repeat(201))).toThrow(/200 bytes/);
  });

  it("refuses a pc_id or group that breaks wire §1.4.1", () => {
    expect(() => heartbeatSubject("pc*")).toThrow(
      /invalid pc_id "pc\*": must not contain '\*' or '>'/,
    );
    expect(() => commandsPc(".pc")).toThrow(/start or end with '\.'/);
    expect(() => pingSubject("a..b")).toThrow(/empty token/);
    expect(() => eventStartedSubject("e", "")).toThrow(/invalid pc_id "": must not be empty/);
    expect(() => commandsGroup("wave 1")).toThrow(/invalid group "wave 1"/);
  });
});

describe("validatePcId / validateGroup", () => {
  it("accepts ids the spec allows, including dots and non-KV characters", () => {
    expect(validatePcId("PC1234")).toBeNull();
    expect(validatePcId("pc1.corp.local")).toBeNull();
    expect(validatePcId("pc#1")).toBeNull();
    expect(validateGroup("wave1")).toBeNull();
  });

  it("returns the broken rule", () => {
    expect(validatePcId("")).toBe("must not be empty");
    expect(validatePcId("a b")).toMatch(/whitespace/);
    expect(validatePcId("a\u0007")).toMatch(/control/);
    expect(validatePcId("a>")).toMatch(/'\*' or '>'/);
    expect(validatePcId("a.")).toMatch(/start or end/);
    expect(validatePcId("é".repeat(101))).toMatch(/200 bytes/);
    expect(validateGroup("a..b")).toMatch(/empty token/);
  });
});

describe("classifyCommandSubject", () => {
  it("recognises all, pc and group subjects", () => {
    expect(classifyCommandSubject("commands.all")).toEqual({ kind: "all" });
    expect(classifyCommandSubject("commands.pc.PC1")).toEqual({ kind: "pc", pcId: "PC1" });
    expect(classifyCommandSubject("commands.group.canary")).toEqual({
      kind: "group",
      group: "canary",
    });
  });

  it("lets a dotted pc_id or group span the rest of the subject", () => {
    expect(classifyCommandSubject("commands.pc.pc1.corp.local")).toEqual({
      kind: "pc",
      pcId: "pc1.corp.local",
    });
    expect(classifyCommandSubject("commands.group.site.tokyo.floor3")).toEqual({
      kind: "group",
      group: "site.tokyo.floor3",
    });
  });

  it("round-trips what the builders produce", () => {
    expect(classifyCommandSubject(commandsPc("a.b"))).toEqual({ kind: "pc", pcId: "a.b" });
    expect(classifyCommandSubject(commandsGroup("g.h"))).toEqual({ kind: "group", group: "g.h" });
  });

  it("classifies anything else as other", () => {
    for (const s of [
      "commands",
      "commands.all.extra",
      "commands.pc",
      "commands.pc.",
      "commands.group.",
      "commands.other.x",
      "results.r-1",
      "commands.pcX.PC1",
    ]) {
      expect(classifyCommandSubject(s), s).toEqual({ kind: "other" });
    }
  });
});

describe("kill subject parsing", () => {
  it("extracts the exec_id", () => {
    expect(execIdFromKillSubject("kill.e-1")).toBe("e-1");
    expect(execIdFromKillSubject(killSubject("abc"))).toBe("abc");
  });
  it("returns null for other subjects", () => {
    expect(execIdFromKillSubject("kill.")).toBeNull();
    expect(execIdFromKillSubject("kill.a.b")).toBeNull();
    expect(execIdFromKillSubject("killx.a")).toBeNull();
  });
});

describe("replayConsumerName (wire §6)", () => {
  it("matches the spec examples", () => {
    expect(replayConsumerName("PC.001")).toBe("agent_replay_PC_001");
    expect(replayConsumerName("host with space")).toBe("agent_replay_host_with_space");
  });
  it("keeps A-Z a-z 0-9 _ - and replaces everything else, one _ per character", () => {
    expect(replayConsumerName("Ab9_-")).toBe("agent_replay_Ab9_-");
    expect(replayConsumerName("a=b/c")).toBe("agent_replay_a_b_c");
    expect(replayConsumerName("pc😀1")).toBe("agent_replay_pc_1");
    expect(replayConsumerName("ｐｃ")).toBe("agent_replay___");
  });
});

describe("resource names", () => {
  it("names streams, buckets and stores exactly", () => {
    expect(STREAM_SUBJECTS).toEqual({
      EXEC: "commands.>",
      RESULTS: "results.>",
      EVENTS: "events.>",
      INVENTORY: "inventory.>",
      AUDIT: "audit.>",
    });
    expect([
      KV_AGENT_CONFIG,
      KV_AGENT_GROUPS,
      KV_SCRIPT_CURRENT,
      KV_SCRIPT_STATUS,
      KV_SCHEDULES,
      KV_JOBS,
      KV_AGENTS_STATE,
      KV_JOBS_YAML,
      KV_SCHEDULES_YAML,
    ]).toEqual([
      "agent_config",
      "agent_groups",
      "script_current",
      "script_status",
      "schedules",
      "jobs",
      "agents_state",
      "jobs_yaml",
      "schedules_yaml",
    ]);
    expect([OBJ_AGENT_RELEASES, OBJ_RESULT_OUTPUT]).toEqual(["agent_releases", "result_output"]);
  });

  it("builds agent_config keys and result_output object keys", () => {
    expect(CONFIG_KEY_GLOBAL).toBe("global");
    expect(configGroupKey("wave1")).toBe("groups.wave1");
    expect(configPcKey("pc1.corp")).toBe("pcs.pc1.corp");
    expect(resultOutputKey("r-1", "PC1", "stderr")).toBe("r-1/PC1/stderr");
    expect(() => resultOutputKey("r.1", "PC1", "stdout")).toThrow(SubjectError);
  });
});
