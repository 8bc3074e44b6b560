// HwInventory (wire.md §4.11): the legacy kanade shape plus optional [ext] sections, and the
// content hash that lets the agent skip publishing an unchanged inventory.
import { createHash } from "node:crypto";
import { z } from "zod";
import type { Decoded } from "./decoded.js";
import {
  bool,
  compareBytes,
  decodeWith,
  f64,
  nullWhenEmpty,
  omittedWhenEmpty,
  putIfPresent,
  str,
  timestamp,
  u32,
  u64,
} from "./schema.js";
import { formatTimestamp } from "./timestamp.js";
import type { HwInventory } from "./types.js";

/** [wire name, domain name, schema]; inside a section every member is omitted when empty. */
type Member = readonly [string, string, z.ZodType];

interface Section {
  schema: z.ZodType<Record<string, unknown>>;
  toDomain(wire: Record<string, unknown>): Record<string, unknown>;
  toWire(domain: Record<string, unknown>): Record<string, unknown>;
}

function section(members: readonly Member[]): Section {
  const shape: Record<string, z.ZodType> = {};
  for (const [wire, , schema] of members) shape[wire] = omittedWhenEmpty(schema);
  return {
    schema: z.object(shape) as unknown as z.ZodType<Record<string, unknown>>,
    toDomain(wire) {
      const out: Record<string, unknown> = {};
      for (const [w, d] of members) if (wire[w] !== undefined) out[d] = wire[w];
      return out;
    },
    toWire(domain) {
      const out: Record<string, unknown> = {};
      for (const [w, d] of members) {
        const v = domain[d];
        putIfPresent(out, w, Array.isArray(v) ? [...v].sort(compareBytes) : v);
      }
      return out;
    },
  };
}

const SYSTEM = section([
  ["manufacturer", "manufacturer", str],
  ["model", "model", str],
  ["serial", "serial", str],
  ["uuid", "uuid", str],
  ["sku", "sku", str],
  ["virtual", "virtual", bool],
]);
const BIOS = section([
  ["vendor", "vendor", str],
  ["version", "version", str],
  ["release_date", "releaseDate", str],
  ["serial", "serial", str],
]);
const BASEBOARD = section([
  ["manufacturer", "manufacturer", str],
  ["model", "model", str],
  ["version", "version", str],
  ["serial", "serial", str],
  ["asset_tag", "assetTag", str],
]);
const CPU = section([
  ["manufacturer", "manufacturer", str],
  ["brand", "brand", str],
  ["speed_ghz", "speedGhz", f64],
  ["physical_cores", "physicalCores", u32],
  ["logical_cores", "logicalCores", u32],
  ["sockets", "sockets", u32],
]);
const MEMORY_MODULE = section([
  ["bank", "bank", str],
  ["type", "type", str],
  ["manufacturer", "manufacturer", str],
  ["part_number", "partNumber", str],
  ["serial", "serial", str],
  ["form_factor", "formFactor", str],
  ["size_bytes", "sizeBytes", u64],
  ["clock_mhz", "clockMhz", u32],
]);
const PHYSICAL_DISK = section([
  ["device", "device", str],
  ["name", "name", str],
  ["vendor", "vendor", str],
  ["type", "type", str],
  ["interface_type", "interfaceType", str],
  ["serial", "serial", str],
  ["firmware_revision", "firmwareRevision", str],
  ["size_bytes", "sizeBytes", u64],
]);
const NETWORK_INTERFACE = section([
  ["name", "name", str],
  ["mac", "mac", str],
  ["type", "type", str],
  ["ipv4", "ipv4", z.array(str)],
  ["ipv6", "ipv6", z.array(str)],
  ["speed_mbps", "speedMbps", u32],
  ["virtual", "virtual", bool],
  ["dhcp", "dhcp", bool],
]);
const COLLECTION_ERROR = z.object({ section: str, error: str });

/** Object sections and arrays of sections: [wire, domain, section, sort key (arrays only)]. */
const SECTIONS = [
  ["system", "system", SYSTEM, null],
  ["bios", "bios", BIOS, null],
  ["baseboard", "baseboard", BASEBOARD, null],
  ["cpu", "cpu", CPU, null],
  ["memory_modules", "memoryModules", MEMORY_MODULE, "bank"],
  ["physical_disks", "physicalDisks", PHYSICAL_DISK, "device"],
  ["network_interfaces", "networkInterfaces", NETWORK_INTERFACE, "name"],
] as const;

const SCALARS = [
  ["schema_version", "schemaVersion", u32],
  ["content_hash", "contentHash", str],
  ["agent_version", "agentVersion", str],
  ["os_family", "osFamily", str],
  ["os_arch", "osArch", str],
  ["kernel_version", "kernelVersion", str],
] as const;

const wireDisk = z.object({
  device_id: str,
  size_bytes: u64,
  free_bytes: u64,
  file_system: nullWhenEmpty(str),
});

const wireInventory = z.object({
  pc_id: str,
  hostname: str,
  os_name: str,
  os_version: str,
  os_build: nullWhenEmpty(str),
  cpu_model: str,
  cpu_cores: u32,
  ram_bytes: u64,
  disks: z.array(wireDisk),
  collected_at: timestamp,
  ...Object.fromEntries(SCALARS.map(([w, , s]) => [w, omittedWhenEmpty(s)])),
  ...Object.fromEntries(
    SECTIONS.map(([w, , sec, sortKey]) => [
      w,
      omittedWhenEmpty(sortKey === null ? sec.schema : z.array(sec.schema)),
    ]),
  ),
  collection_errors: omittedWhenEmpty(z.array(COLLECTION_ERROR)),
});

export function decodeHwInventory(value: unknown): Decoded<HwInventory> {
  const decoded = decodeWith(wireInventory, value);
  if (!decoded.ok) return decoded;
  const w = decoded.value as z.output<typeof wireInventory> & Record<string, unknown>;
  const inv: Record<string, unknown> = {
    pcId: w.pc_id,
    hostname: w.hostname,
    osName: w.os_name,
    osVersion: w.os_version,
    osBuild: w.os_build,
    cpuModel: w.cpu_model,
    cpuCores: w.cpu_cores,
    ramBytes: w.ram_bytes,
    disks: w.disks.map((d) => ({
      deviceId: d.device_id,
      sizeBytes: d.size_bytes,
      freeBytes: d.free_bytes,
      fileSystem: d.file_system,
    })),
    collectedAt: w.collected_at,
  };
  for (const [wire, domain] of SCALARS) if (w[wire] !== undefined) inv[domain] = w[wire];
  for (const [wire, domain, sec, sortKey] of SECTIONS) {
    const v = w[wire];
    if (v === undefined) continue;
    inv[domain] =
      sortKey === null
        ? sec.toDomain(v as Record<string, unknown>)
        : (v as Record<string, unknown>[]).map((item) => sec.toDomain(item));
  }
  if (w.collection_errors !== undefined) {
    inv.collectionErrors = w.collection_errors.map((e) => ({ section: e.section, error: e.error }));
  }
  return { ok: true, value: inv as unknown as HwInventory };
}

const byKey =
  (key: string) =>
  (a: Record<string, unknown>, b: Record<string, unknown>): number =>
    compareBytes(String(a[key] ?? ""), String(b[key] ?? ""));

/** Arrays are written in the orders wire §4.11 gives (the content hash depends on it). */
export function encodeHwInventory(inv: HwInventory): Record<string, unknown> {
  const out: Record<string, unknown> = {
    pc_id: inv.pcId,
    hostname: inv.hostname,
    os_name: inv.osName,
    os_version: inv.osVersion,
    os_build: inv.osBuild === "" ? null : inv.osBuild,
    cpu_model: inv.cpuModel,
    cpu_cores: inv.cpuCores,
    ram_bytes: inv.ramBytes,
    disks: inv.disks
      .map((d) => ({
        device_id: d.deviceId,
        size_bytes: d.sizeBytes,
        free_bytes: d.freeBytes,
        file_system: d.fileSystem === "" ? null : d.fileSystem,
      }))
      .sort(byKey("device_id")),
    collected_at: formatTimestamp(inv.collectedAt),
  };
  const domain = inv as unknown as Record<string, unknown>;
  for (const [wire, name] of SCALARS) putIfPresent(out, wire, domain[name]);
  for (const [wire, name, sec, sortKey] of SECTIONS) {
    const v = domain[name];
    if (v === undefined || v === null) continue;
    out[wire] =
      sortKey === null
        ? sec.toWire(v as Record<string, unknown>)
        : (v as Record<string, unknown>[]).map((item) => sec.toWire(item)).sort(byKey(sortKey));
  }
  if (inv.collectionErrors !== undefined) {
    out.collection_errors = inv.collectionErrors.map((e) => ({
      section: e.section,
      error: e.error,
    }));
  }
  return out;
}

/** JSON with object members sorted by key at every level and no whitespace. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/**
 * `sha256:<hex>` of the canonical payload without `collected_at`, `content_hash`,
 * `collection_errors` and every `disks[].free_bytes` (wire §4.11), so that only a change of
 * the hardware or software picture changes it.
 */
export function inventoryContentHash(inv: HwInventory): string {
  const payload = encodeHwInventory(inv);
  delete payload.collected_at;
  delete payload.content_hash;
  delete payload.collection_errors;
  payload.disks = (payload.disks as Record<string, unknown>[]).map(
    ({ free_bytes: _free, ...disk }) => disk,
  );
  const digest = createHash("sha256").update(canonicalJson(payload), "utf8").digest("hex");
  return `sha256:${digest}`;
}
