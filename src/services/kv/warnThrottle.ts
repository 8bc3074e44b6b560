/**
 * behavior.md 3.1's warning policy for a failure that repeats: warn the first time, then at most
 * once per `everyMs` while it keeps failing; `succeeded()` starts over.
 */
export class WarnThrottle {
  private last = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly now: () => number,
    private readonly everyMs = 5 * 60_000,
  ) {}

  /** true when this failure deserves a warning (otherwise log it quietly). */
  shouldWarn(): boolean {
    const t = this.now();
    if (t - this.last < this.everyMs) return false;
    this.last = t;
    return true;
  }

  succeeded(): void {
    this.last = Number.NEGATIVE_INFINITY;
  }
}
