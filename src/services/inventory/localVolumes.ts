// `disks` holds local fixed volumes only (behavior.md 14.6): memory-backed, pseudo, image and
// network file systems say nothing about the machine's storage and would churn the hash.
import type { Systeminformation } from "systeminformation";
import type { DiskInfo } from "../wire/types.js";

const NOT_LOCAL_FIXED = new Set([
  // memory-backed and pseudo file systems
  "tmpfs",
  "devtmpfs",
  "ramfs",
  "proc",
  "sysfs",
  "cgroup",
  "cgroup2",
  "devfs",
  "autofs",
  "efivarfs",
  "securityfs",
  "debugfs",
  "tracefs",
  "pstore",
  "bpf",
  "configfs",
  "fusectl",
  "mqueue",
  "hugetlbfs",
  "binfmt_misc",
  // container layers and read-only images
  "overlay",
  "overlayfs",
  "aufs",
  "squashfs",
  "iso9660",
  "udf",
  // network file systems
  "nfs",
  "nfs4",
  "cifs",
  "smbfs",
  "smb3",
  "afpfs",
  "webdav",
  "davfs",
  "fuse.davfs2",
  "sshfs",
  "fuse.sshfs",
  "9p",
  "afs",
  "ceph",
  "fuse.ceph",
  "glusterfs",
  "fuse.glusterfs",
  "lustre",
  "ncpfs",
  "fuse.rclone",
]);

const DRIVE_LETTER = /^[A-Za-z]:$/;

/**
 * DiskInfo per local fixed volume, one per `device_id` (drive letter on Windows, mount point
 * elsewhere). On Windows the collector already kept fixed drives only; here only entries that
 * are not a drive letter are dropped.
 */
export function localFixedVolumes(
  entries: readonly Systeminformation.FsSizeData[],
  platform: NodeJS.Platform,
): DiskInfo[] {
  const byDevice = new Map<string, DiskInfo>();
  for (const e of entries) {
    const type = (e.type ?? "").trim();
    const mount = (e.mount ?? "").trim();
    if (mount === "") continue;
    if (platform === "win32") {
      if (!DRIVE_LETTER.test(mount)) continue;
    } else if (NOT_LOCAL_FIXED.has(type.toLowerCase())) {
      continue;
    }
    const deviceId = platform === "win32" ? mount.toUpperCase() : mount;
    if (byDevice.has(deviceId)) continue;
    byDevice.set(deviceId, {
      deviceId,
      sizeBytes: byteCount(e.size),
      freeBytes: byteCount(e.available),
      fileSystem: type === "" ? null : type,
    });
  }
  return [...byDevice.values()];
}

function byteCount(n: number): number {
  return Number.isFinite(n) && n > 0 ? Math.min(Math.round(n), Number.MAX_SAFE_INTEGER) : 0;
}
