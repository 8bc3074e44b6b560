import { readFileSync } from "node:fs";

declare const __KANADE_VERSION__: string | undefined;

/**
 * The running agent's version: baked in by the release bundler, else read from the package
 * manifest next to the compiled code.
 */
export const AGENT_VERSION: string =
  typeof __KANADE_VERSION__ === "string"
    ? __KANADE_VERSION__
    : (
        JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
          version: string;
        }
      ).version;
