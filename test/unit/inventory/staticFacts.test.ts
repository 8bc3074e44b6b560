import { describe, expect, it } from "vitest";
import {
  STATIC_FACTS_MS,
  systeminformationCollectors,
} from "../../../src/services/inventory/collectors.js";

describe("static hardware facts", () => {
  it("are asked once a day at most: a second collection reuses them, a day later they are asked again", async () => {
    let now = 0;
    const calls = systeminformationCollectors(process.platform, () => now);
    const first = await calls.bios();
    expect(await calls.bios()).toBe(first); // the same object: no new probe
    now += STATIC_FACTS_MS;
    expect(await calls.bios()).not.toBe(first);
    // What changes between checks is always asked again.
    expect(await calls.mem()).not.toBe(await calls.mem());
  }, 20_000);
});
