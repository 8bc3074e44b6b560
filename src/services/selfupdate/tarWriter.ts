import { BLOCK, encodeHeader, type TarEntryType } from "./tarHeader.js";

export interface TarInput {
  /** Path inside the archive, `/`-separated (`package/dist/agent.mjs`). */
  path: string;
  data?: Uint8Array;
  /** `file` by default; other types exist so tests can build hostile archives. */
  type?: TarEntryType;
  mode?: number;
  linkname?: string;
}

/** npm pack's fixed mtime (1985-10-26T08:15:00Z): the same inputs give the same bytes. */
export const REPRODUCIBLE_MTIME = 499_162_500;

/** A ustar archive of `entries`, in order, ending with the two zero blocks. */
export function packTar(entries: readonly TarInput[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? "file";
    const data = e.data ?? new Uint8Array(0);
    const carriesData = type === "file" || type.startsWith("pax") || type.startsWith("gnu");
    const size = carriesData ? data.length : 0;
    parts.push(
      encodeHeader({
        name: e.path,
        type,
        size,
        mode: e.mode ?? (type === "directory" ? 0o755 : 0o644),
        mtime: REPRODUCIBLE_MTIME,
        linkname: e.linkname,
      }),
    );
    if (size > 0) {
      parts.push(Buffer.from(data));
      const pad = (BLOCK - (size % BLOCK)) % BLOCK;
      if (pad > 0) parts.push(Buffer.alloc(pad));
    }
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}
