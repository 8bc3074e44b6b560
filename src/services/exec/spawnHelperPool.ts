import type { ChildControl, ChildSink, Spawner, SpawnSpec } from "./spawner.js";
import { SpawnHelper, type SpawnHelperOptions } from "./spawnHelper.js";

/**
 * Helpers of the agent: two let two commands start at once (measured: a burst at two slots went
 * from ~81 % to ~88 % CPU use, the time an order waited for a busy helper gone); more would cost
 * ~21 MiB of private memory each for spawns that rarely coincide.
 */
export const SPAWN_HELPERS = 2;

/**
 * A few spawn helpers side by side. A helper's thread is blocked while it forks (until the child
 * has exec'd) and while it syncs the intent line, so one helper serves the slots one after the
 * other; each spawn goes to the helper with the fewest children in flight. Helpers start on
 * demand and retire when idle, so a single command at a time never starts a second one.
 */
export class SpawnHelperPool implements Spawner {
  readonly #helpers: SpawnHelper[];

  constructor(
    size: number,
    opts: SpawnHelperOptions = {},
    make: (opts: SpawnHelperOptions, index: number) => SpawnHelper = (o) => new SpawnHelper(o),
  ) {
    this.#helpers = Array.from({ length: Math.max(1, size) }, (_, i) => make(opts, i));
  }

  spawn(spec: SpawnSpec, sink: ChildSink): ChildControl {
    // A helper given up (it kept dying) forks from the agent's process: the last choice.
    let best: SpawnHelper | undefined;
    for (const h of this.#helpers) {
      if (!h.inProcess && (best === undefined || h.inFlight < best.inFlight)) best = h;
    }
    return (best ?? this.#helpers[0]!).spawn(spec, sink);
  }

  /** The pids of the helpers running now. */
  get pids(): number[] {
    return this.#helpers.flatMap((h) => (h.pid === undefined ? [] : [h.pid]));
  }

  close(): void {
    for (const h of this.#helpers) h.close();
  }
}
