import { open } from "node:fs/promises";
import { fileURLToPath } from "node:url";

/**
 * FileHandle methods the agent's file writers go through. Their prototype is shared by every
 * handle, so a spy on it reaches handles a class keeps private (restore it after each test).
 */
export interface HandleMethods {
  write(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number | null,
  ): Promise<{ bytesWritten: number; buffer: Buffer }>;
  datasync(): Promise<void>;
  sync(): Promise<void>;
}

let proto: HandleMethods | undefined;

/** The prototype of every `FileHandle`. */
export async function fileHandlePrototype(): Promise<HandleMethods> {
  if (!proto) {
    const fh = await open(fileURLToPath(import.meta.url), "r");
    proto = Object.getPrototypeOf(fh) as HandleMethods;
    await fh.close();
  }
  return proto;
}

/** The error a write gets when the disk is full. */
export const enospc = (): Error =>
  Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
