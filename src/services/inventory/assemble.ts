// Turns what the systeminformation calls returned into an HwInventory (wire §4.11). Pure: the
// calls, their timeouts and the clock live in collect.ts.
import type { Systeminformation } from "systeminformation";
import { inventoryContentHash } from "../wire/hwInventory.js";
import type {
  CollectionError,
  HwInventory,
  InventoryBaseboard,
  InventoryBios,
  InventoryCpu,
  InventorySystem,
  MemoryModule,
  NetworkInterface,
  PhysicalDisk,
} from "../wire/types.js";
import { localFixedVolumes } from "./localVolumes.js";
import { inventoryHostname, osFamilyOf, type RuntimeOs } from "./runtimeOs.js";

/** This payload shape (wire §4.11). */
export const INVENTORY_SCHEMA_VERSION = 2;

/** What each call returned; a call that failed or timed out is absent. */
export interface RawInventory {
  osInfo?: Systeminformation.OsData;
  cpu?: Systeminformation.CpuData;
  mem?: Systeminformation.MemData;
  fsSize?: Systeminformation.FsSizeData[];
  system?: Systeminformation.SystemData;
  uuid?: Systeminformation.UuidData;
  bios?: Systeminformation.BiosData;
  baseboard?: Systeminformation.BaseboardData;
  memLayout?: Systeminformation.MemLayoutData[];
  diskLayout?: Systeminformation.DiskLayoutData[];
  networkInterfaces?: Systeminformation.NetworkInterfacesData[];
}

export interface AssembleContext {
  pcId: string;
  agentVersion: string;
  platform: NodeJS.Platform;
  env: NodeJS.ProcessEnv;
  runtime: RuntimeOs;
  collectedAt: number;
  errors: readonly CollectionError[];
}

/** The inventory with its `content_hash`; required legacy members fall back to `runtime`. */
export function assembleHwInventory(raw: RawInventory, ctx: AssembleContext): HwInventory {
  const { runtime, platform } = ctx;
  const os = raw.osInfo;
  const kernel = text(os?.kernel) ?? text(runtime.release()) ?? "";
  const inv: HwInventory = {
    pcId: ctx.pcId,
    hostname: inventoryHostname(ctx.env, text(os?.hostname) ?? runtime.hostname()),
    osName: text(os?.distro) ?? runtime.type(),
    osVersion: text(os?.release) ?? runtime.release(),
    osBuild: (platform === "win32" ? windowsBuild(os, runtime) : kernel) || null,
    cpuModel: cpuModel(raw.cpu) ?? runtime.cpuModel(),
    cpuCores: positiveInt(raw.cpu?.physicalCores) ?? runtime.cpuCount(),
    ramBytes: positiveInt(raw.mem?.total) ?? runtime.totalMemory(),
    disks: raw.fsSize === undefined ? [] : localFixedVolumes(raw.fsSize, platform),
    collectedAt: ctx.collectedAt,
    schemaVersion: INVENTORY_SCHEMA_VERSION,
    agentVersion: ctx.agentVersion,
    osFamily: osFamilyOf(platform),
    osArch: text(os?.arch) ?? runtime.arch(),
  };
  if (kernel !== "") inv.kernelVersion = kernel;
  if (raw.system !== undefined) {
    const system = systemSection(raw.system, raw.uuid);
    if (system !== undefined) inv.system = system;
  }
  if (raw.bios !== undefined) {
    const bios = biosSection(raw.bios);
    if (bios !== undefined) inv.bios = bios;
  }
  if (raw.baseboard !== undefined) {
    const baseboard = baseboardSection(raw.baseboard);
    if (baseboard !== undefined) inv.baseboard = baseboard;
  }
  if (raw.cpu !== undefined) {
    const cpu = cpuSection(raw.cpu);
    if (cpu !== undefined) inv.cpu = cpu;
  }
  if (raw.memLayout !== undefined) inv.memoryModules = raw.memLayout.map(memoryModule);
  if (raw.diskLayout !== undefined) inv.physicalDisks = raw.diskLayout.map(physicalDisk);
  if (raw.networkInterfaces !== undefined) {
    inv.networkInterfaces = raw.networkInterfaces.filter(isExternal).map(networkInterface);
  }
  if (ctx.errors.length > 0) inv.collectionErrors = ctx.errors.map((e) => ({ ...e }));
  inv.contentHash = inventoryContentHash(inv);
  return inv;
}

function windowsBuild(os: Systeminformation.OsData | undefined, runtime: RuntimeOs): string {
  const build = text(os?.build);
  if (build !== undefined) return build;
  // `10.0.22631` → `22631`
  return runtime.release().split(".")[2] ?? "";
}

/** `AMD EPYC`, `Apple M2`; the library splits the vendor off the brand string. */
function cpuModel(cpu: Systeminformation.CpuData | undefined): string | undefined {
  const maker = text(cpu?.manufacturer);
  const brand = text(cpu?.brand);
  if (brand === undefined) return maker;
  if (maker === undefined || brand.toLowerCase().startsWith(maker.toLowerCase())) return brand;
  return `${maker} ${brand}`;
}

function systemSection(
  s: Systeminformation.SystemData,
  uuid: Systeminformation.UuidData | undefined,
): InventorySystem | undefined {
  return compact({
    manufacturer: text(s.manufacturer),
    model: text(s.model),
    serial: text(s.serial),
    uuid: text(s.uuid) ?? text(uuid?.hardware),
    sku: text(s.sku),
    virtual: typeof s.virtual === "boolean" ? s.virtual : undefined,
  });
}

function biosSection(b: Systeminformation.BiosData): InventoryBios | undefined {
  return compact({
    vendor: text(b.vendor),
    version: text(b.version),
    releaseDate: text(b.releaseDate),
    serial: text(b.serial),
  });
}

function baseboardSection(b: Systeminformation.BaseboardData): InventoryBaseboard | undefined {
  return compact({
    manufacturer: text(b.manufacturer),
    model: text(b.model),
    version: text(b.version),
    serial: text(b.serial),
    assetTag: text(b.assetTag),
  });
}

function cpuSection(c: Systeminformation.CpuData): InventoryCpu | undefined {
  return compact({
    manufacturer: text(c.manufacturer),
    brand: text(c.brand),
    // 0 GHz and 0 sockets are the library's "could not tell".
    speedGhz:
      typeof c.speed === "number" && Number.isFinite(c.speed) && c.speed > 0 ? c.speed : undefined,
    physicalCores: positiveInt(c.physicalCores),
    logicalCores: positiveInt(c.cores),
    sockets: positiveInt(c.processors),
  });
}

function memoryModule(m: Systeminformation.MemLayoutData): MemoryModule {
  return (
    compact({
      bank: text(m.bank),
      type: text(m.type),
      manufacturer: text(m.manufacturer),
      partNumber: text(m.partNum),
      serial: text(m.serialNum),
      formFactor: text(m.formFactor),
      sizeBytes: positiveInt(m.size),
      clockMhz: positiveInt(m.clockSpeed),
    }) ?? {}
  );
}

function physicalDisk(d: Systeminformation.DiskLayoutData): PhysicalDisk {
  return (
    compact({
      device: text(d.device),
      name: text(d.name),
      vendor: text(d.vendor),
      type: text(d.type),
      interfaceType: text(d.interfaceType),
      serial: text(d.serialNum),
      firmwareRevision: text(d.firmwareRevision),
      sizeBytes: positiveInt(d.size),
    }) ?? {}
  );
}

const LOOPBACK_NAME = /^lo\d*$|loopback/i;

function isExternal(n: Systeminformation.NetworkInterfacesData): boolean {
  return !n.internal && !LOOPBACK_NAME.test(n.iface ?? "");
}

function networkInterface(n: Systeminformation.NetworkInterfacesData): NetworkInterface {
  const ip4 = text(n.ip4);
  const ip6 = text(n.ip6);
  const out: NetworkInterface = {
    ...compact({
      name: text(n.iface),
      mac: text(n.mac),
      type: text(n.type),
      speedMbps: positiveInt(n.speed),
    }),
    // Always present, possibly empty: "no address" is a fact about a collected interface.
    ipv4: ip4 === undefined ? [] : [ip4],
    ipv6: ip6 === undefined ? [] : [ip6],
  };
  if (typeof n.virtual === "boolean") out.virtual = n.virtual;
  if (typeof n.dhcp === "boolean") out.dhcp = n.dhcp;
  return out;
}

/** A library string, or undefined when it is empty (= unknown, behavior.md 14.6). */
function text(v: unknown): string | undefined {
  if (typeof v !== "string") return undefined;
  const t = v.trim();
  return t === "" ? undefined : t;
}

function positiveInt(v: unknown): number | undefined {
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) return undefined;
  return Math.min(Math.round(v), Number.MAX_SAFE_INTEGER);
}

/** The object without its unknown members; undefined when nothing is known. */
function compact<T extends object>(obj: T): T | undefined {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) if (v !== undefined) out[k] = v;
  return Object.keys(out).length === 0 ? undefined : (out as T);
}
