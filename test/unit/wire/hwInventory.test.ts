import { describe, expect, it } from "vitest";
import {
  decodeHwInventory,
  encodeHwInventory,
  type HwInventory,
  inventoryContentHash,
} from "../../../src/services/wire/index.js";
import { fixtureObject } from "./fixtureKit.js";

function extended(): HwInventory {
  const decoded = decodeHwInventory(fixtureObject("hw-inventory-extended.json"));
  if (!decoded.ok) throw new Error(decoded.error.message);
  return decoded.value;
}

describe("inventoryContentHash (wire §4.11)", () => {
  it("reproduces the hash carried by the extended fixture", () => {
    const inv = extended();
    expect(inv.contentHash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(inventoryContentHash(inv)).toBe(inv.contentHash);
  });

  it("ignores collected_at, content_hash, collection_errors and disks' free_bytes", () => {
    const before = inventoryContentHash(extended());
    const changes: ((inv: HwInventory) => void)[] = [
      (inv) => {
        inv.collectedAt += 3_600_000;
      },
      (inv) => {
        inv.contentHash = "sha256:0";
      },
      (inv) => {
        delete inv.contentHash;
      },
      (inv) => {
        inv.collectionErrors = [{ section: "cpu", error: "timeout after 30s" }];
      },
      (inv) => {
        delete inv.collectionErrors;
      },
      (inv) => {
        inv.disks[0]!.freeBytes -= 1_000_000;
      },
    ];
    for (const change of changes) {
      const inv = extended();
      change(inv);
      expect(inventoryContentHash(inv)).toBe(before);
    }
  });

  it("changes when anything else changes", () => {
    const before = inventoryContentHash(extended());
    const changes: ((inv: HwInventory) => void)[] = [
      (inv) => {
        inv.hostname = "PC1235";
      },
      (inv) => {
        inv.ramBytes += 1;
      },
      (inv) => {
        inv.disks[0]!.sizeBytes += 1;
      },
      (inv) => {
        inv.disks[1]!.fileSystem = "exFAT";
      },
      (inv) => {
        inv.disks.pop();
      },
      (inv) => {
        inv.osBuild = null;
      },
      (inv) => {
        inv.cpu!.brand = "Core i7-1265U";
      },
      (inv) => {
        inv.networkInterfaces![1]!.ipv4 = ["192.168.1.24"];
      },
      (inv) => {
        inv.memoryModules!.pop();
      },
      (inv) => {
        inv.system!.virtual = true;
      },
      (inv) => {
        inv.baseboard = { manufacturer: "LENOVO" };
      },
      (inv) => {
        inv.agentVersion = "1.0.1";
      },
      (inv) => {
        inv.schemaVersion = 3;
      },
    ];
    changes.forEach((change, i) => {
      const inv = extended();
      change(inv);
      expect(inventoryContentHash(inv), `change #${i}`).not.toBe(before);
    });
  });

  it("does not depend on the order the collector listed things in", () => {
    const before = inventoryContentHash(extended());
    const inv = extended();
    inv.disks.reverse();
    inv.memoryModules!.reverse();
    inv.networkInterfaces!.reverse();
    inv.networkInterfaces![0]!.ipv6 = ["fe80::2", "fe80::1"];
    const sorted = extended();
    sorted.networkInterfaces![1]!.ipv6 = ["fe80::1", "fe80::2"];
    expect(inventoryContentHash(inv)).toBe(inventoryContentHash(sorted));
    expect(inventoryContentHash(sorted)).not.toBe(before);
  });
});

describe("encodeHwInventory", () => {
  it("writes arrays in the orders of wire §4.11 and leaves empty strings out", () => {
    const inv = extended();
    inv.disks.reverse();
    inv.memoryModules!.reverse();
    inv.networkInterfaces!.reverse();
    inv.bios!.serial = "";
    const out = encodeHwInventory(inv) as {
      disks: { device_id: string }[];
      memory_modules: { bank: string }[];
      network_interfaces: { name: string }[];
      bios: Record<string, unknown>;
    };
    expect(out.disks.map((d) => d.device_id)).toEqual(["C:", "D:"]);
    expect(out.memory_modules.map((m) => m.bank)).toEqual(["BANK 0", "BANK 1"]);
    expect(out.network_interfaces.map((n) => n.name)).toEqual(["Ethernet", "Wi-Fi"]);
    expect(out.bios).not.toHaveProperty("serial");
  });

  it("decodes the legacy shape without any extension section", () => {
    const decoded = decodeHwInventory(fixtureObject("hw-inventory-legacy.json"));
    if (!decoded.ok) throw new Error(decoded.error.message);
    expect(decoded.value.disks[1]!.fileSystem).toBeNull();
    expect(decoded.value.schemaVersion).toBeUndefined();
    expect(decoded.value.cpu).toBeUndefined();
  });
});
