// Entry of the `kanade` operator CLI (bin/kanade.js). Process wiring only: Ctrl-C, exit code.
import { processIo } from "./io.js";
import { runCli } from "./program.js";

/** How long a verb gets to wind down after Ctrl-C (close NATS, say what may still run). */
const INTERRUPT_GRACE_MS = 3_000;
const EXIT_INTERRUPTED = 130;

const interrupt = new AbortController();
// The first Ctrl-C ends the waits that watch for it (`run`, `agents`); a verb that does not
// watch it, or takes too long to stop, is ended after the grace period or at a second Ctrl-C.
process.once("SIGINT", () => {
  interrupt.abort();
  setTimeout(() => process.exit(EXIT_INTERRUPTED), INTERRUPT_GRACE_MS).unref();
  process.once("SIGINT", () => process.exit(EXIT_INTERRUPTED));
});

const code = await runCli(process.argv.slice(2), processIo(interrupt.signal));
process.exitCode = code;
// Let stdout drain and exit naturally; should anything still hold the event loop, go anyway.
setTimeout(() => process.exit(code), 2_000).unref();
