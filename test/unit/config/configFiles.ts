import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../helpers/tmp.js";

/** Writes `text` as agent.toml in a fresh temp folder and returns its path. */
export function writeConfig(text: string, dir = tempDir("kanade-config-")): string {
  const file = join(dir, "agent.toml");
  writeFileSync(file, text);
  return file;
}

/** The smallest valid [agent] table, for tests about other keys. */
export const MINIMAL = '[agent]\nid = "PC1"\nnats_url = "nats://127.0.0.1:4222"\n';

/** A hermetic environment: nothing from the developer's shell leaks into a test. */
export const NO_ENV: Readonly<Record<string, string | undefined>> = {};
