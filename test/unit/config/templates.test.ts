import { describe, expect, it } from "vitest";
import {
  ConfigError,
  defaultHostName,
  expandTemplates,
  loadAgentConfig,
} from "../../../src/services/config/index.js";
import { writeConfig } from "./configFiles.js";

const toml = (agentLines: string, rest = "") => `[agent]\n${agentLines}\n${rest}`;

describe("templates in agent.toml (behavior.md 1.5)", () => {
  it("expands {{ system.host }} with or without spaces", async () => {
    const file = writeConfig(
      toml('id = "{{ system.host }}"\nnats_url = "nats://{{system.host}}:4222"'),
    );
    const { config } = await loadAgentConfig(file, {
      env: {},
      hostname: "WS-042",
      platform: "linux",
    });
    expect(config.pcId).toBe("WS-042");
    expect(config.natsUrls).toEqual(["nats://WS-042:4222"]);
  });

  it("resolves the host name like the heartbeat when none is injected", async () => {
    const file = writeConfig(toml('id = "{{ system.host }}"\nnats_url = "n"'));
    const fromComputerName = await loadAgentConfig(file, {
      env: { COMPUTERNAME: "WIN-PC", HOSTNAME: "other" },
      platform: "win32",
    });
    expect(fromComputerName.config.pcId).toBe("WIN-PC");
    const fromHostname = await loadAgentConfig(file, {
      env: { HOSTNAME: "lnx" },
      platform: "linux",
    });
    expect(fromHostname.config.pcId).toBe("lnx");
    expect(defaultHostName({})).not.toBe("");
  });

  it("expands env() with and without default, in every string value and in arrays", async () => {
    const file = writeConfig(
      toml(
        [
          "id = '{{ env(name=\"PC_NAME\") }}'",
          `nats_url = ['nats://{{env(name="BROKER_A")}}:4222', 'nats://{{ env( name = "BROKER_B" , default = "fallback" ) }}:4222']`,
          `data_dir = '{{ env(name="BASE", default="/srv") }}/kanade'`,
        ].join("\n"),
        `[log]\nlevel = '{{ env(name="LVL", default="info") }}'\n[nats]\nuser = '{{ env(name="NUSER") }}'\npassword = '{{ env(name="NPASS") }}'\n`,
      ),
    );
    const { config } = await loadAgentConfig(file, {
      env: { PC_NAME: "PC7", BROKER_A: "a.example", LVL: "debug", NUSER: "agent", NPASS: "pw" },
      platform: "linux",
    });
    expect(config.pcId).toBe("PC7");
    expect(config.natsUrls).toEqual(["nats://a.example:4222", "nats://fallback:4222"]);
    expect(config.dataDir).toBe("/srv/kanade");
    expect(config.log.level).toBe("debug");
    expect(config.nats.auth.mode).toBe("user_password");
    if (config.nats.auth.mode === "user_password") {
      expect(config.nats.auth.user).toBe("agent");
      expect(config.nats.auth.password.reveal()).toBe("pw");
    }
  });

  it("prefers a set variable over the default, even when it is empty", () => {
    const ctx = { env: { X: "" }, host: () => "h" };
    expect(expandTemplates('{{ env(name="X", default="Y") }}', ctx)).toEqual({
      ok: true,
      value: "",
    });
    expect(expandTemplates('{{ env(default="Y", name="Z") }}', ctx)).toEqual({
      ok: true,
      value: "Y",
    });
    expect(expandTemplates("{{ env(name='X') }}-{{system.host}}", ctx)).toEqual({
      ok: true,
      value: "-h",
    });
  });

  it("does not expand the text a template produced", () => {
    const ctx = { env: { X: "{{ system.host }}" }, host: () => "h" };
    expect(expandTemplates('{{ env(name="X") }}', ctx)).toEqual({
      ok: true,
      value: "{{ system.host }}",
    });
  });

  it("leaves text without a complete {{ … }} alone", () => {
    const ctx = { env: {}, host: () => "h" };
    expect(expandTemplates("a {{ b", ctx)).toEqual({ ok: true, value: "a {{ b" });
    expect(expandTemplates("} {", ctx)).toEqual({ ok: true, value: "} {" });
  });

  it.each([
    ['{{ env(name="UNSET_VAR") }}', /UNSET_VAR is not set/],
    ["{{ system.os }}", /unknown template/],
    ["{{ }}", /unknown template/],
    ["{{ env(name=X) }}", /expected name=/],
    ['{{ env(name="A", fallback="B") }}', /unknown argument fallback/],
    ['{{ env(name="A", name="B") }}', /given twice/],
    ['{{ env(default="B") }}', /needs a non-empty name/],
  ])("refuses %s naming the expression, the key and the file", async (template, pattern) => {
    const file = writeConfig(
      toml(`id = "PC1"\nnats_url = ${JSON.stringify(`nats://${template}`)}`),
    );
    const err = await loadAgentConfig(file, { env: {}, platform: "linux" }).then(
      () => expect.fail("expected a ConfigError"),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    const e = err as ConfigError;
    expect(e.file).toBe(file);
    expect(e.key).toBe("agent.nats_url");
    expect(e.message).toContain(file);
    expect(e.message).toContain(template);
    expect(e.message).toMatch(pattern);
  });

  it("names the array element whose template fails", async () => {
    const file = writeConfig(
      toml('id = "PC1"\nnats_url = ["nats://a", "{{ env(name=\\"NOPE\\") }}"]'),
    );
    await expect(loadAgentConfig(file, { env: {}, platform: "linux" })).rejects.toMatchObject({
      key: "agent.nats_url[1]",
    });
  });

  it("checks the pc_id after expansion", async () => {
    const file = writeConfig(toml('id = "{{ env(name=\\"ID\\") }}"\nnats_url = "n"'));
    await expect(
      loadAgentConfig(file, { env: { ID: "bad id" }, platform: "linux" }),
    ).rejects.toThrow(/"bad id" is not a valid pc_id/);
  });

  it("does not evaluate templates in ignored keys", async () => {
    const file = writeConfig(toml('id = "PC1"\nnats_url = "n"\nextra = "{{ nonsense }}"'));
    const { warnings } = await loadAgentConfig(file, { env: {}, platform: "linux" });
    expect(warnings).toEqual([`${file}: unknown key agent.extra (ignored)`]);
  });
});
