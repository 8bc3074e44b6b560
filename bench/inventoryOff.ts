// Turns the built-in inventory off for every agent of a broker (agent_config `global`), for the
// benchmarks that measure something else: a collection costs ~0.3–1 s of CPU and a few dozen
// shells, at a random moment of the agent's first minute.
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { CONFIG_KEY_GLOBAL, KV_AGENT_CONFIG } from "../src/services/nats/subjects.js";

export async function turnInventoryOff(nc: NatsConnection): Promise<void> {
  await (await new Kvm(nc).open(KV_AGENT_CONFIG)).put(
    CONFIG_KEY_GLOBAL,
    JSON.stringify({ inventory_enabled: false }),
  );
}
