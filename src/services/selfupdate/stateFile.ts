// Reading and writing `staging/state.json` (behavior.md 15.8). The launcher, the health watch and
// the swap are its only writers, each with one atomic write.

import { readFile } from "node:fs/promises";
import { atomicWrite } from "../fs/atomicWrite.js";
import { parseJson } from "../wire/json.js";
import { decodeReleaseState, emptyReleaseState, encodeReleaseState } from "../wire/releaseState.js";
import type { ReleaseState } from "../wire/types.js";
import type { StagingLayout } from "./stagingLayout.js";

/** state.json is a few hundred bytes; anything this large is not ours. */
const MAX_STATE_BYTES = 256 * 1024;

export interface ReadReleaseState {
  state: ReleaseState;
  /** Why the file could not be used (it then reads as empty), or null. */
  problem: string | null;
}

/**
 * The recorded release state; a missing file is the empty state (base install, nothing pending).
 * An unreadable or malformed file also reads as empty, with the reason, so that a damaged file
 * never stops the agent from starting: the base install is always runnable.
 */
export async function readReleaseState(s: StagingLayout): Promise<ReadReleaseState> {
  let text: string;
  try {
    const bytes = await readFile(s.stateFile);
    if (bytes.length > MAX_STATE_BYTES)
      return bad(`${s.stateFile} is larger than ${MAX_STATE_BYTES} bytes`);
    text = bytes.toString("utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT")
      return { state: emptyReleaseState(), problem: null };
    return bad(`cannot read ${s.stateFile}: ${(err as Error).message}`);
  }
  const json = parseJson(text);
  if (!json.ok) return bad(`${s.stateFile} is not JSON: ${json.error.message}`);
  const decoded = decodeReleaseState(json.value);
  if (!decoded.ok) return bad(`${s.stateFile}: ${decoded.error.message}`);
  return { state: decoded.value, problem: null };
}

function bad(problem: string): ReadReleaseState {
  return { state: emptyReleaseState(), problem };
}

export async function writeReleaseState(s: StagingLayout, state: ReleaseState): Promise<void> {
  await atomicWrite(s.stateFile, `${JSON.stringify(encodeReleaseState(state), null, 2)}\n`);
}
