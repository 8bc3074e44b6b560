// The last step of `npm run build`: the base install's bundle, dist/kanade-agent.mjs (build.ts).
import { fileURLToPath } from "node:url";
import { writeBaseBundle } from "./build.js";

await writeBaseBundle(fileURLToPath(new URL("../../", import.meta.url)));
