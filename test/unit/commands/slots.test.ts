import { describe, expect, it } from "vitest";
import { Slots } from "../../../src/services/commands/slots.js";

const settled = async <T>(p: Promise<T>): Promise<"granted" | "waiting" | "refused"> => {
  let state: "granted" | "waiting" | "refused" = "waiting";
  p.then(
    () => {
      state = "granted";
    },
    () => {
      state = "refused";
    },
  );
  await new Promise((r) => setImmediate(r));
  return state;
};

describe("slots (behavior.md 5.4: the concurrency budget)", () => {
  it("grants up to the limit, then in arrival order as holders give theirs back", async () => {
    const slots = new Slots(2);
    await slots.acquire("a");
    await slots.acquire("b");
    const c = slots.acquire("c");
    const d = slots.acquire("d");
    expect(await settled(c)).toBe("waiting");
    slots.release("a");
    expect(await settled(c)).toBe("granted");
    expect(await settled(d)).toBe("waiting");
    expect(slots.inUse).toBe(2);
  });

  it("a second release, or one by a command holding none, frees nobody's slot", async () => {
    const slots = new Slots(1);
    await slots.acquire("a");
    const b = slots.acquire("b");
    slots.release("ghost");
    expect(await settled(b)).toBe("waiting");
    slots.release("a");
    expect(await settled(b)).toBe("granted");
    slots.release("a"); // the failed actor's cleanup after its own exit action
    const c = slots.acquire("c");
    expect(await settled(c)).toBe("waiting");
    expect(slots.inUse).toBe(1);
  });

  it("a command granted its slot as it gave up waiting still gives it back by name", async () => {
    const slots = new Slots(1);
    await slots.acquire("a");
    const abort = new AbortController();
    const b = slots.acquire("b", abort.signal);
    slots.release("a"); // b is granted now...
    abort.abort(); // ...and stopped before it heard of it: it never set `holdsSlot`
    expect(await settled(b)).toBe("granted");
    slots.release("b"); // its exit action, by name
    expect(slots.inUse).toBe(0);
    expect(slots.free).toBe(true);
  });

  it("a waiter that gives up leaves the queue", async () => {
    const slots = new Slots(1);
    await slots.acquire("a");
    const abort = new AbortController();
    const b = slots.acquire("b", abort.signal);
    const c = slots.acquire("c");
    abort.abort();
    expect(await settled(b)).toBe("refused");
    slots.release("a");
    expect(await settled(c)).toBe("granted");
  });
});
