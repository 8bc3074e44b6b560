// A one-line spinner on stderr for waits that last more than a second. Only on a terminal: in
// pipes and logs it would be noise. Redrawn in place with \r and cleared when the wait ends.
import type { CliIo } from "../io.js";

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"] as const;
const SHOW_AFTER_MS = 1_000;
const FRAME_MS = 100;

export interface Progress {
  /** Replaces the text shown next to the spinner. */
  update(text: string): void;
  /** Clears the line; safe to call more than once. */
  stop(): void;
}

const inert: Progress = { update: () => {}, stop: () => {} };

export function startProgress(io: CliIo, text: string | (() => string)): Progress {
  if (!io.stderrIsTTY) return inert;
  let current = text;
  let frame = 0;
  let shown = false;
  let stopped = false;
  const draw = () => {
    const label = typeof current === "function" ? current() : current;
    io.stderr.write(`\r\x1b[2K${FRAMES[frame++ % FRAMES.length]} ${label}`);
    shown = true;
  };
  let ticker: NodeJS.Timeout | undefined;
  const delay = setTimeout(() => {
    draw();
    ticker = setInterval(draw, FRAME_MS);
    ticker.unref();
  }, SHOW_AFTER_MS);
  // A forgotten spinner must never keep the process alive.
  delay.unref();
  return {
    update(next) {
      current = next;
    },
    stop() {
      if (stopped) return;
      stopped = true;
      clearTimeout(delay);
      if (ticker) clearInterval(ticker);
      if (shown) io.stderr.write("\r\x1b[2K");
    },
  };
}

/** Runs `f` with a spinner that shows only if it takes longer than a second. */
export async function withProgress<T>(io: CliIo, text: string, f: () => Promise<T>): Promise<T> {
  const progress = startProgress(io, text);
  try {
    return await f();
  } finally {
    progress.stop();
  }
}
