/**
 * The concurrency budget of behavior.md 5.4: at most `limit` commands run at once, the others
 * wait in arrival order. A waiter that gives up (kill, deadline, stop) leaves the queue. Slots are
 * held by name (the request_id), so giving one back is exact: a second release, or the release
 * of a command granted a slot in the instant it gave up waiting, cannot free another's.
 */
export class Slots {
  private readonly holders = new Set<string>();
  private readonly waiters: Array<() => void> = [];
  /** A self-update is about to restart the agent: nothing new is launched (behavior 15.7). */
  private held = false;

  constructor(private limit: number) {}

  setLimit(limit: number): void {
    this.limit = Math.max(1, limit);
    this.wakeWaiters();
  }

  /** Commands that may run at once (`max_local_concurrent`). */
  get capacity(): number {
    return this.limit;
  }

  get inUse(): number {
    return this.holders.size;
  }

  /** Whether an `acquire` now would be granted at once. */
  get free(): boolean {
    return !this.held && this.holders.size < this.limit && this.waiters.length === 0;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  hold(): void {
    this.held = true;
  }

  resume(): void {
    this.held = false;
    this.wakeWaiters();
  }

  /** Resolves once `holder` holds a slot; rejects if `signal` aborts first. */
  acquire(holder: string, signal?: AbortSignal): Promise<void> {
    if (this.free) {
      this.holders.add(holder);
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const grant = () => {
        signal?.removeEventListener("abort", onAbort);
        this.holders.add(holder);
        resolve();
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(grant);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal?.reason ?? new Error("aborted"));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(grant);
    });
  }

  /** Gives back the slot `holder` holds; nothing when it holds none. */
  release(holder: string): void {
    if (this.holders.delete(holder)) this.wakeWaiters();
  }

  private wakeWaiters(): void {
    while (!this.held && this.holders.size < this.limit && this.waiters.length > 0)
      this.waiters.shift()?.();
  }
}
