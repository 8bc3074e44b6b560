// A made-up Windows laptop as systeminformation describes it, for the inventory unit tests.
import type { Systeminformation } from "systeminformation";
import type { Collectors } from "../../../src/services/inventory/collectors.js";
import type { RuntimeOs } from "../../../src/services/inventory/runtimeOs.js";

export const fakeRuntime: RuntimeOs = {
  type: () => "Windows_NT",
  release: () => "10.0.22631",
  arch: () => "x64",
  hostname: () => "runtime-host",
  cpuModel: () => "Intel(R) Core(TM) i7-1265U",
  cpuCount: () => 12,
  totalMemory: () => 34_000_000_000,
};

export function fakeCollectors(): Collectors {
  return {
    osInfo: async () =>
      ({
        platform: "Windows",
        distro: "Microsoft Windows 11 Pro",
        release: "10.0.22631",
        kernel: "10.0.22631",
        arch: "x64",
        hostname: "laptop-7",
        build: "22631",
      }) as Systeminformation.OsData,
    cpu: async () =>
      ({
        manufacturer: "Intel",
        brand: "Core™ i7-1265U",
        speed: 1.8,
        cores: 12,
        physicalCores: 10,
        processors: 1,
      }) as Systeminformation.CpuData,
    mem: async () => ({ total: 34_359_738_368 }) as Systeminformation.MemData,
    fsSize: async () =>
      [
        { fs: "D:", type: "", size: 1_000_202_039_296, available: 9e11, mount: "D:" },
        { fs: "C:", type: "NTFS", size: 511_101_108_224, available: 1.28e11, mount: "C:" },
      ] as Systeminformation.FsSizeData[],
    system: async () =>
      ({
        manufacturer: "LENOVO",
        model: "21AH00ABJP",
        version: "",
        serial: "PF3ABCDE",
        uuid: "",
        sku: "LENOVO_MT_21AH",
        virtual: false,
      }) as Systeminformation.SystemData,
    uuid: async () =>
      ({
        os: "x",
        hardware: "4c4c4544-0042-3510-8052-b4c04f4a3233",
        macs: [],
      }) as Systeminformation.UuidData,
    bios: async () =>
      ({
        vendor: "LENOVO",
        version: "N3MET18W (1.17 )",
        releaseDate: "2024-03-05",
        revision: "",
        serial: "",
      }) as Systeminformation.BiosData,
    baseboard: async () =>
      ({
        manufacturer: "LENOVO",
        model: "21AH00ABJP",
        version: "",
        serial: "L1HF",
        assetTag: "",
      }) as Systeminformation.BaseboardData,
    memLayout: async () => [
      {
        size: 17_179_869_184,
        bank: "BANK 1",
        type: "LPDDR5",
        clockSpeed: 5200,
        formFactor: "",
        manufacturer: "Samsung",
        partNum: "K3LKBKB0BM-MGCP",
        serialNum: "",
      } as Systeminformation.MemLayoutData,
      {
        size: 17_179_869_184,
        bank: "BANK 0",
        type: "LPDDR5",
        clockSpeed: 0,
        formFactor: "",
        manufacturer: "Samsung",
        partNum: "K3LKBKB0BM-MGCP",
        serialNum: "",
      } as Systeminformation.MemLayoutData,
    ],
    diskLayout: async () => [
      {
        device: "\\\\.\\PHYSICALDRIVE0",
        type: "NVMe",
        name: "SAMSUNG MZVL2512HCJQ",
        vendor: "Samsung",
        size: 512_105_932_800,
        firmwareRevision: "GXB7801Q",
        serialNum: "S64KNX0T123456",
        interfaceType: "NVMe",
      } as Systeminformation.DiskLayoutData,
    ],
    networkInterfaces: async () => [
      {
        iface: "Wi-Fi",
        ip4: "192.168.1.23",
        ip6: "fe80::1c2d:3e4f:5a6b:7c8d",
        mac: "a4:c3:f0:65:43:21",
        internal: false,
        virtual: false,
        type: "wireless",
        speed: 866,
        dhcp: true,
      } as Systeminformation.NetworkInterfacesData,
      {
        iface: "Ethernet",
        ip4: "",
        ip6: "",
        mac: "98:fa:9b:12:34:56",
        internal: false,
        virtual: false,
        type: "wired",
        speed: 1000,
        dhcp: true,
      } as Systeminformation.NetworkInterfacesData,
      {
        iface: "Loopback Pseudo-Interface 1",
        ip4: "127.0.0.1",
        ip6: "::1",
        mac: "",
        internal: true,
        virtual: false,
        type: "",
        speed: null,
        dhcp: false,
      } as Systeminformation.NetworkInterfacesData,
    ],
  };
}
