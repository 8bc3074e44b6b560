// Entry of `kanade-agent` (bin/kanade-agent.js imports this): the launcher, then the release.
import { launch } from "./launch.js";

launch({ argv: process.argv, env: process.env }).catch((err: unknown) => {
  process.stderr.write(
    `kanade-agent: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
