import { describe, expect, it } from "vitest";
import {
  assembleHwInventory,
  type RawInventory,
} from "../../../src/services/inventory/assemble.js";
import { localFixedVolumes } from "../../../src/services/inventory/localVolumes.js";
import {
  decodeHwInventory,
  encodeHwInventory,
  inventoryContentHash,
} from "../../../src/services/wire/hwInventory.js";
import { fakeCollectors, fakeRuntime } from "./fakeHost.js";

const AT = Date.UTC(2026, 4, 16, 0, 0, 42, 315);

async function rawFromFakes(): Promise<RawInventory> {
  const c = fakeCollectors();
  return {
    osInfo: await c.osInfo(),
    cpu: await c.cpu(),
    mem: await c.mem(),
    fsSize: await c.fsSize(),
    system: await c.system(),
    uuid: await c.uuid(),
    bios: await c.bios(),
    baseboard: await c.baseboard(),
    memLayout: await c.memLayout(),
    diskLayout: await c.diskLayout(),
    networkInterfaces: await c.networkInterfaces(),
  };
}

const ctx = (over: Partial<Parameters<typeof assembleHwInventory>[1]> = {}) => ({
  pcId: "PC1234",
  agentVersion: "1.0.0",
  platform: "win32" as const,
  env: {},
  runtime: fakeRuntime,
  collectedAt: AT,
  errors: [],
  ...over,
});

describe("assembleHwInventory", () => {
  it("maps every systeminformation part onto the wire shape", async () => {
    const inv = assembleHwInventory(await rawFromFakes(), ctx());
    const wire = encodeHwInventory(inv);
    expect(wire).toMatchObject({
      pc_id: "PC1234",
      hostname: "laptop-7",
      os_name: "Microsoft Windows 11 Pro",
      os_version: "10.0.22631",
      os_build: "22631",
      cpu_model: "Intel Core™ i7-1265U",
      cpu_cores: 10,
      ram_bytes: 34_359_738_368,
      disks: [
        {
          device_id: "C:",
          size_bytes: 511_101_108_224,
          free_bytes: 128_000_000_000,
          file_system: "NTFS",
        },
        {
          device_id: "D:",
          size_bytes: 1_000_202_039_296,
          free_bytes: 900_000_000_000,
          file_system: null,
        },
      ],
      collected_at: "2026-05-16T00:00:42.315Z",
      schema_version: 2,
      agent_version: "1.0.0",
      os_family: "windows",
      os_arch: "x64",
      kernel_version: "10.0.22631",
      system: {
        manufacturer: "LENOVO",
        model: "21AH00ABJP",
        serial: "PF3ABCDE",
        uuid: "4c4c4544-0042-3510-8052-b4c04f4a3233",
        sku: "LENOVO_MT_21AH",
        virtual: false,
      },
      bios: { vendor: "LENOVO", version: "N3MET18W (1.17 )", release_date: "2024-03-05" },
      baseboard: { manufacturer: "LENOVO", model: "21AH00ABJP", serial: "L1HF" },
      cpu: {
        manufacturer: "Intel",
        brand: "Core™ i7-1265U",
        speed_ghz: 1.8,
        physical_cores: 10,
        logical_cores: 12,
        sockets: 1,
      },
    });
    // Sorted as wire §4.11 says; unknown values (empty strings, a 0 MHz clock) left out.
    expect(wire.memory_modules).toEqual([
      {
        bank: "BANK 0",
        type: "LPDDR5",
        manufacturer: "Samsung",
        part_number: "K3LKBKB0BM-MGCP",
        size_bytes: 17_179_869_184,
      },
      {
        bank: "BANK 1",
        type: "LPDDR5",
        manufacturer: "Samsung",
        part_number: "K3LKBKB0BM-MGCP",
        size_bytes: 17_179_869_184,
        clock_mhz: 5200,
      },
    ]);
    expect(wire.physical_disks).toEqual([
      {
        device: "\\\\.\\PHYSICALDRIVE0",
        name: "SAMSUNG MZVL2512HCJQ",
        vendor: "Samsung",
        type: "NVMe",
        interface_type: "NVMe",
        serial: "S64KNX0T123456",
        firmware_revision: "GXB7801Q",
        size_bytes: 512_105_932_800,
      },
    ]);
    // Loopback gone; an interface without addresses keeps empty lists.
    expect(wire.network_interfaces).toEqual([
      {
        name: "Ethernet",
        mac: "98:fa:9b:12:34:56",
        type: "wired",
        ipv4: [],
        ipv6: [],
        speed_mbps: 1000,
        virtual: false,
        dhcp: true,
      },
      {
        name: "Wi-Fi",
        mac: "a4:c3:f0:65:43:21",
        type: "wireless",
        ipv4: ["192.168.1.23"],
        ipv6: ["fe80::1c2d:3e4f:5a6b:7c8d"],
        speed_mbps: 866,
        virtual: false,
        dhcp: true,
      },
    ]);
    expect(JSON.stringify(wire)).not.toContain('""');
    expect(wire).not.toHaveProperty("collection_errors");
  });

  it("carries a content hash that the codec recomputes, and round-trips the codec", async () => {
    const inv = assembleHwInventory(await rawFromFakes(), ctx());
    const decoded = decodeHwInventory(JSON.parse(JSON.stringify(encodeHwInventory(inv))));
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    expect(decoded.value.contentHash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(inventoryContentHash(decoded.value)).toBe(decoded.value.contentHash);
  });

  it("prefers COMPUTERNAME, then HOSTNAME, then the OS host name", async () => {
    const raw = await rawFromFakes();
    expect(
      assembleHwInventory(raw, ctx({ env: { COMPUTERNAME: "CN", HOSTNAME: "HN" } })).hostname,
    ).toBe("CN");
    expect(assembleHwInventory(raw, ctx({ env: { HOSTNAME: "HN" } })).hostname).toBe("HN");
  });

  it("falls back to the runtime for required members when their calls failed", () => {
    const inv = assembleHwInventory(
      {},
      ctx({ errors: [{ section: "os", error: "timeout after 30s" }] }),
    );
    expect(inv).toMatchObject({
      hostname: "runtime-host",
      osName: "Windows_NT",
      osVersion: "10.0.22631",
      osBuild: "22631",
      cpuModel: "Intel(R) Core(TM) i7-1265U",
      cpuCores: 12,
      ramBytes: 34_000_000_000,
      disks: [],
      osArch: "x64",
      kernelVersion: "10.0.22631",
      collectionErrors: [{ section: "os", error: "timeout after 30s" }],
    });
    for (const section of [
      "system",
      "bios",
      "baseboard",
      "cpu",
      "memoryModules",
      "physicalDisks",
      "networkInterfaces",
    ]) {
      expect(inv).not.toHaveProperty(section);
    }
    expect(decodeHwInventory(JSON.parse(JSON.stringify(encodeHwInventory(inv)))).ok).toBe(true);
  });

  it("leaves collection_errors and free space out of the content hash", async () => {
    const raw = await rawFromFakes();
    const a = assembleHwInventory(raw, ctx());
    const b = assembleHwInventory(
      { ...raw, fsSize: raw.fsSize!.map((v) => ({ ...v, available: v.available - 4096 })) },
      ctx({ collectedAt: AT + 3_600_000, errors: [{ section: "bios", error: "x" }] }),
    );
    expect(b.contentHash).toBe(a.contentHash);
    const c = assembleHwInventory({ ...raw, mem: { ...raw.mem!, total: 1 } }, ctx());
    expect(c.contentHash).not.toBe(a.contentHash);
  });

  it("uses the kernel release as os_build outside Windows", async () => {
    const raw = await rawFromFakes();
    const inv = assembleHwInventory(
      {
        ...raw,
        osInfo: {
          ...raw.osInfo!,
          distro: "Debian GNU/Linux",
          release: "12",
          kernel: "6.1.0-18-amd64",
          build: "",
        },
      },
      ctx({ platform: "linux" }),
    );
    expect(inv).toMatchObject({
      osName: "Debian GNU/Linux",
      osVersion: "12",
      osBuild: "6.1.0-18-amd64",
      osFamily: "linux",
    });
  });
});

describe("localFixedVolumes", () => {
  const fs = (mount: string, type: string) => ({
    fs: `/dev/${mount}`,
    type,
    size: 100,
    used: 40,
    available: 60,
    use: 40,
    mount,
    rw: true,
  });

  it("keeps local fixed volumes only, once per mount point", () => {
    const disks = localFixedVolumes(
      [
        fs("/", "ext4"),
        fs("/boot/efi", "vfat"),
        fs("/dev/shm", "tmpfs"),
        fs("/run", "tmpfs"),
        fs("/dev", "devtmpfs"),
        fs("/var/lib/docker/overlay2/x/merged", "overlay"),
        fs("/snap/core/1", "squashfs"),
        fs("/mnt/share", "nfs4"),
        fs("/mnt/smb", "cifs"),
        fs("/sys/fs/cgroup", "cgroup2"),
        fs("/", "ext4"),
      ],
      "linux",
    );
    expect(disks.map((d) => d.deviceId)).toEqual(["/", "/boot/efi"]);
    expect(disks[0]).toEqual({ deviceId: "/", sizeBytes: 100, freeBytes: 60, fileSystem: "ext4" });
  });

  it("keeps drive letters on Windows", () => {
    const disks = localFixedVolumes(
      [fs("C:", "NTFS"), fs("\\\\server\\share", "NTFS"), fs("d:", "")],
      "win32",
    );
    expect(disks.map((d) => [d.deviceId, d.fileSystem])).toEqual([
      ["C:", "NTFS"],
      ["D:", null],
    ]);
  });
});
