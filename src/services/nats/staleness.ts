import type { Clock } from "../time/clock.js";

/**
 * behavior.md §4: how long the agent has been without a broker. Monotonic clock, so a wall-clock
 * jump never makes a cached command look fresher or staler than it is.
 */
export class StalenessTracker {
  private up = false;
  private everUp = false;
  private downSince = 0;

  constructor(private readonly clock: Clock) {}

  markUp(): void {
    this.up = true;
    this.everUp = true;
  }

  markDown(): void {
    if (!this.up) return;
    this.up = false;
    this.downSince = this.clock.monotonic();
  }

  get connected(): boolean {
    return this.up;
  }

  /** 0 while connected, time since the last disconnect, Infinity if never connected. */
  stalenessMs(): number {
    if (this.up) return 0;
    if (!this.everUp) return Number.POSITIVE_INFINITY;
    return this.clock.monotonic() - this.downSince;
  }
}
