import type { AdmittedCommand } from "./pipeline.js";

export interface BackloggedCommand {
  admitted: AdmittedCommand;
  /** A kill for its exec_id arrived while it waited here (behavior.md 5.4). */
  killed: boolean;
}

/**
 * Admitted commands beyond `cap` live command actors wait here, in arrival order, as plain
 * records (the ledger has them): a burst of thousands then costs a few
 * hundred bytes each instead of a statechart each. A kill for a waiting command is remembered and
 * honoured when its actor starts; its deadline is judged by the actor as usual.
 */
export class AdmissionBacklog {
  private readonly waiting: BackloggedCommand[] = [];

  private readonly cap: () => number;

  /** `cap` may follow a setting (the concurrency budget): it is asked each time. */
  constructor(
    cap: number | (() => number),
    private readonly dispatch: (c: BackloggedCommand) => void,
  ) {
    this.cap = typeof cap === "number" ? () => cap : cap;
  }

  get size(): number {
    return this.waiting.length;
  }

  /** A newly admitted command; `liveActors` is the number of command actors right now. */
  push(admitted: AdmittedCommand, liveActors: number): void {
    if (this.waiting.length === 0 && liveActors < this.cap())
      this.dispatch({ admitted, killed: false });
    else this.waiting.push({ admitted, killed: false });
  }

  /** Called whenever the number of live command actors may have dropped. */
  release(liveActors: number): void {
    let live = liveActors;
    const cap = this.cap();
    while (live < cap && this.waiting.length > 0) {
      this.dispatch(this.waiting.shift()!);
      live++;
    }
  }

  kill(execId: string): void {
    for (const c of this.waiting) if (c.admitted.command?.execId === execId) c.killed = true;
  }

  /** Stop: what waits here stays `admitted` in the ledger and resumes after the restart. */
  clear(): void {
    this.waiting.length = 0;
  }
}
