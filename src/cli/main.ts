// Entry of the `kanade` operator CLI (bin/kanade.js). Process wiring only: Ctrl-C, exit code.
import { processIo } from "./io.js";
import { runCli } from "./program.js";

const interrupt = new AbortController();
// The first Ctrl-C lets a wait end cleanly (close NATS, say what is still running); a second
// one exits at once.
process.once("SIGINT", () => {
  interrupt.abort();
  process.once("SIGINT", () => process.exit(130));
});

const code = await runCli(process.argv.slice(2), processIo(interrupt.signal));
process.exitCode = code;
// Let stdout drain and exit naturally; should anything still hold the event loop, go anyway.
setTimeout(() => process.exit(code), 2_000).unref();
