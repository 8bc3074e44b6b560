// The messages between the agent and its spawn helper (spawnHelper.ts). Both ends are this
// checkout's code; nothing here is on the NATS wire.

/** What `child_process.spawn` is given; stdio is always ignore/pipe/pipe (behavior.md 7.8). */
export interface SpawnSpec {
  file: string;
  args: string[];
  cwd: string | undefined;
  env: Record<string, string>;
  /** POSIX: the child leads a new process group (7.12). */
  detached: boolean;
  windowsVerbatimArguments: boolean;
  /**
   * A line appended to `file` and synced before the fork (the ledger's `running` record, §6.3):
   * whoever forks makes it durable, so the agent's thread never waits for that disk sync.
   * Not written → the child is not started.
   */
  intent?: { file: string; line: string };
}

export type SpawnOrder =
  /**
   * Between the agent and its helper `spec.env` is left out when it is the environment of the
   * previous spawn order (the agent's, the same for every command): it is ~50 variables that
   * would be serialised twice per command.
   */
  | { op: "spawn"; id: number; spec: SpawnSpec | (Omit<SpawnSpec, "env"> & { env?: undefined }) }
  /** Stop reading the child's pipes and forget it (a descendant holds them open, 7.13). */
  | { op: "release"; id: number };

export type PipeName = "stdout" | "stderr";

/** The helper's first message: from now on it takes orders. Events come in arrays. */
export interface HelperReady {
  type: "ready";
}

export type SpawnEvent =
  | { id: number; type: "spawned"; pid: number }
  /** The child never ran: the fork failed (ENOENT, EACCES…), or its intent could not be written. */
  | {
      id: number;
      type: "failed";
      stage: "spawn" | "intent";
      code: string | undefined;
      message: string;
    }
  | { id: number; type: "data"; pipe: PipeName; chunk: Uint8Array }
  /** The pipe closed; `error` when reading it failed first. */
  | { id: number; type: "end"; pipe: PipeName; error?: string }
  | { id: number; type: "exit"; code: number | null; signal: NodeJS.Signals | null }
  /** An error of the child process after it started (e.g. a failed signal); logged only. */
  | { id: number; type: "warn"; message: string };
