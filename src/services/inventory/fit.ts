// Fitting an inventory under the broker's payload limit (behavior.md 14.4) and turning it into
// the bytes that are published and replied.
import { encodeHwInventory, inventoryContentHash } from "../wire/hwInventory.js";
import type { HwInventory } from "../wire/types.js";

/** Used when the server did not say (behavior.md 8.5). */
export const DEFAULT_MAX_PAYLOAD = 1_048_576;
/** Room left for headers under `max_payload` (behavior.md §0). */
export const HEADER_RESERVE = 1024;

/** Left out in this order until the payload fits (behavior.md 14.4); wire names for the log. */
const DROP_ORDER = [
  ["networkInterfaces", "network_interfaces"],
  ["physicalDisks", "physical_disks"],
  ["memoryModules", "memory_modules"],
] as const;

export interface PreparedInventory {
  /** The inventory as published: sections left out are absent, `contentHash` matches. */
  inventory: HwInventory;
  /** `content_hash` of the payload as published (behavior.md 14.7). */
  hash: string;
  /** UTF-8 JSON. */
  bytes: Uint8Array;
  /** Wire names of the sections left out to fit. */
  dropped: string[];
  /** Still above the budget with every droppable section gone. */
  oversize: boolean;
}

const utf8 = new TextEncoder();

export function prepareInventory(inv: HwInventory, maxPayload: number): PreparedInventory {
  const budget = (maxPayload > 0 ? maxPayload : DEFAULT_MAX_PAYLOAD) - HEADER_RESERVE;
  let current: HwInventory = inv;
  const dropped: string[] = [];
  let out = serialize(current);
  for (const [member, wire] of DROP_ORDER) {
    if (out.bytes.length <= budget) break;
    if (current[member] === undefined) continue;
    const { [member]: _left, ...rest } = current;
    current = rest;
    dropped.push(wire);
    out = serialize(current);
  }
  return { ...out, dropped, oversize: out.bytes.length > budget };
}

function serialize(inv: HwInventory): Pick<PreparedInventory, "inventory" | "hash" | "bytes"> {
  const hash = inventoryContentHash(inv);
  const inventory: HwInventory = { ...inv, contentHash: hash };
  return { inventory, hash, bytes: utf8.encode(JSON.stringify(encodeHwInventory(inventory))) };
}
