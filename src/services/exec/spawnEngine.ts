import type * as ChildProcesses from "node:child_process";
import type * as Fs from "node:fs";
import type { SpawnEvent, SpawnOrder } from "./spawnProtocol.js";

/** Sends one event; `sent` (when given) once it left the process, for flow control. */
export type EmitSpawnEvent = (event: SpawnEvent, sent?: () => void) => void;

export interface SpawnEngine {
  order(order: SpawnOrder): void;
  /** Children not yet exited with both pipes closed (or released). */
  readonly size: number;
}

/**
 * Spawns children and reports what happens to them as events. It runs in the agent (Windows, or
 * when no helper can run) and, as its source text, in the spawn helper: so it must reference
 * nothing but its parameters. With `flowControl`, the pipes of every child pause while over
 * 1 MiB of output is sent but not yet out of the process, so a chatty script cannot fill the
 * helper's memory faster than the agent reads it.
 */
export function spawnEngine(
  childProcesses: typeof ChildProcesses,
  fs: typeof Fs,
  emit: EmitSpawnEvent,
  flowControl: boolean,
): SpawnEngine {
  const HIGH_WATER = 1 << 20;
  const LOW_WATER = 256 << 10;
  const children = new Map<number, ChildProcesses.ChildProcess>();
  let unsent = 0;
  /** The environment of the last spawn order: an order without one reuses it. */
  let lastEnv: Record<string, string> = {};
  let paused = false;

  const setPaused = (pause: boolean) => {
    paused = pause;
    for (const child of children.values()) {
      for (const pipe of [child.stdout, child.stderr]) {
        if (!pipe || pipe.destroyed) continue;
        if (pause) pipe.pause();
        else pipe.resume();
      }
    }
  };

  const sendData = (id: number, pipe: "stdout" | "stderr", chunk: Buffer) => {
    if (!flowControl) return emit({ id, type: "data", pipe, chunk });
    unsent += chunk.length;
    emit({ id, type: "data", pipe, chunk }, () => {
      unsent -= chunk.length;
      if (paused && unsent <= LOW_WATER) setPaused(false);
    });
    if (!paused && unsent > HIGH_WATER) setPaused(true);
  };

  const start = (id: number, spec: Extract<SpawnOrder, { op: "spawn" }>["spec"]) => {
    const failed = (err: unknown) => {
      const e = err as NodeJS.ErrnoException;
      emit({
        id,
        type: "failed",
        stage: "spawn",
        code: e?.code,
        message: e instanceof Error ? e.message : String(e),
      });
    };
    if (spec.intent) {
      let fd: number | undefined;
      try {
        fd = fs.openSync(spec.intent.file, "a", 0o600);
        const data = Buffer.from(spec.intent.line, "utf8");
        let off = 0;
        while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off);
        fs.fdatasyncSync(fd);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        emit({
          id,
          type: "failed",
          stage: "intent",
          code: e?.code,
          message: `cannot record the start in ${spec.intent.file}: ${e instanceof Error ? e.message : String(e)}`,
        });
        return;
      } finally {
        if (fd !== undefined) fs.closeSync(fd);
      }
    }
    let child: ChildProcesses.ChildProcess;
    try {
      child = childProcesses.spawn(spec.file, spec.args, {
        cwd: spec.cwd,
        env: spec.env,
        stdio: ["ignore", "pipe", "pipe"],
        detached: spec.detached,
        windowsHide: true,
        windowsVerbatimArguments: spec.windowsVerbatimArguments,
      });
    } catch (err) {
      return failed(err);
    }
    // Node reports a failed spawn (ENOENT, EACCES) with an 'error' event on the next tick.
    if (child.pid === undefined) return void child.once("error", failed);
    children.set(id, child);
    emit({ id, type: "spawned", pid: child.pid });
    let open = 0;
    let exited = false;
    const forget = () => {
      if (exited && open === 0) children.delete(id);
    };
    for (const pipe of ["stdout", "stderr"] as const) {
      const stream = child[pipe];
      if (!stream) continue;
      open++;
      let ended = false;
      const end = (error?: string) => {
        if (ended) return;
        ended = true;
        open--;
        emit(error === undefined ? { id, type: "end", pipe } : { id, type: "end", pipe, error });
        forget();
      };
      stream.on("data", (chunk: Buffer) => sendData(id, pipe, chunk));
      stream.once("error", (e) => end(e instanceof Error ? e.message : String(e)));
      stream.once("close", () => end());
      if (paused) stream.pause();
    }
    child.on("error", (e) => emit({ id, type: "warn", message: e.message }));
    child.once("exit", (code, signal) => {
      exited = true;
      emit({ id, type: "exit", code, signal });
      forget();
    });
  };

  return {
    order(order) {
      if (order.op === "spawn") {
        lastEnv = order.spec.env ?? lastEnv;
        return start(order.id, { ...order.spec, env: lastEnv });
      }
      const child = children.get(order.id);
      if (!child) return;
      children.delete(order.id);
      child.stdout?.destroy();
      child.stderr?.destroy();
    },
    get size() {
      return children.size;
    },
  };
}
