/**
 * Injected time. Wall-clock for timestamps and deadlines, monotonic for timeouts, waits and
 * staleness (behavior.md §19: a wall-clock jump never shortens or lengthens a wait).
 */
export interface Clock {
  /** Wall clock, epoch milliseconds. */
  now(): number;
  /** Monotonic milliseconds from an arbitrary origin. */
  monotonic(): number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
};

/** Uniform random number in [0, 1). Injected so tests are deterministic. */
export type Random = () => number;
export const systemRandom: Random = Math.random;
