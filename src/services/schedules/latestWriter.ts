import { atomicWrite } from "../fs/atomicWrite.js";
import type { Logger } from "../logging/logger.js";

/**
 * Writes a file atomically, one write at a time, keeping only the newest pending content: a
 * burst of changes costs at most two writes, and an older content never lands after a newer one.
 * A failed write is logged and left to the next change (the in-memory state stays authoritative).
 */
export class LatestWriter {
  private pending: string | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly path: string,
    private readonly log: Logger,
  ) {}

  write(text: string): void {
    this.pending = text;
    if (this.running === null) this.running = this.loop();
  }

  /** Resolves once everything handed to `write` so far is on disk (or failed). */
  async flush(): Promise<void> {
    while (this.running !== null) await this.running;
  }

  private async loop(): Promise<void> {
    while (this.pending !== null) {
      const text = this.pending;
      this.pending = null;
      try {
        await atomicWrite(this.path, text);
      } catch (err) {
        this.log.error(
          { file: this.path, err: err instanceof Error ? err.message : String(err) },
          `could not write ${this.path}`,
        );
      }
    }
    this.running = null;
  }
}
