import * as childProcesses from "node:child_process";
import fs from "node:fs";
import { type SpawnEngine, spawnEngine } from "./spawnEngine.js";
import type { PipeName, SpawnEvent, SpawnSpec } from "./spawnProtocol.js";

export type { PipeName, SpawnSpec } from "./spawnProtocol.js";

/** What happens to one spawned child, in order: spawned or failed, then data/end/exit, or lost. */
export interface ChildSink {
  spawned(pid: number): void;
  /**
   * The child never ran; `code` is the errno name (ENOENT, EACCES…). `intent`: its intent line
   * could not be written (the message says where and why), so it was not forked.
   */
  failed(error: NodeJS.ErrnoException, stage: "spawn" | "intent"): void;
  data(pipe: PipeName, chunk: Buffer): void;
  /** The pipe closed; `error` when reading it failed first. */
  ended(pipe: PipeName, error?: string): void;
  exited(code: number | null, signal: NodeJS.Signals | null): void;
  warn(message: string): void;
  /** The process that watched the child is gone: its exit and output will never be known. */
  lost(reason: string): void;
}

export interface ChildControl {
  /** Stop reading the child's pipes; no event after this one. */
  release(): void;
}

/** Starts children: in this process, or through the spawn helper (spawnHelper.ts). */
export interface Spawner {
  spawn(spec: SpawnSpec, sink: ChildSink): ChildControl;
}

/** The sinks of the children in flight, by the id their orders and events carry. */
export class ChildTable {
  readonly #sinks = new Map<number, { sink: ChildSink; ends: number; exited: boolean }>();
  #seq = 0;

  get size(): number {
    return this.#sinks.size;
  }

  add(sink: ChildSink): number {
    const id = ++this.#seq;
    this.#sinks.set(id, { sink, ends: 0, exited: false });
    return id;
  }

  /** Forgets a child; false when it was already gone. */
  remove(id: number): boolean {
    return this.#sinks.delete(id);
  }

  deliver(event: SpawnEvent): void {
    const entry = this.#sinks.get(event.id);
    if (!entry) return;
    const { sink } = entry;
    switch (event.type) {
      case "spawned":
        sink.spawned(event.pid);
        break;
      case "failed": {
        this.#sinks.delete(event.id);
        const error: NodeJS.ErrnoException = new Error(event.message);
        if (event.code !== undefined) error.code = event.code;
        sink.failed(error, event.stage);
        break;
      }
      case "data": {
        const { chunk } = event;
        sink.data(
          event.pipe,
          Buffer.isBuffer(chunk)
            ? chunk
            : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length),
        );
        break;
      }
      case "end":
        entry.ends++;
        this.#forgetWhenDone(event.id, entry);
        sink.ended(event.pipe, event.error);
        break;
      case "exit":
        entry.exited = true;
        this.#forgetWhenDone(event.id, entry);
        sink.exited(event.code, event.signal);
        break;
      case "warn":
        sink.warn(event.message);
        break;
    }
  }

  /** Every child in flight is lost (the helper died), except those `keep` names: each hears it once. */
  loseAll(reason: string, keep: (id: number) => boolean = () => false): void {
    const lost: ChildSink[] = [];
    for (const [id, entry] of this.#sinks) {
      if (keep(id)) continue;
      this.#sinks.delete(id);
      lost.push(entry.sink);
    }
    for (const sink of lost) sink.lost(reason);
  }

  #forgetWhenDone(id: number, entry: { ends: number; exited: boolean }): void {
    if (entry.exited && entry.ends === 2) this.#sinks.delete(id);
  }
}

/**
 * Spawns from this process. Node forks the calling process, so each spawn costs in proportion
 * to the agent's memory; POSIX agents use the spawn helper instead and this is their fallback.
 */
export class InProcessSpawner implements Spawner {
  readonly #table = new ChildTable();
  readonly #engine: SpawnEngine = spawnEngine(
    childProcesses,
    fs,
    (event) => this.#table.deliver(event),
    false,
  );

  spawn(spec: SpawnSpec, sink: ChildSink): ChildControl {
    const id = this.#table.add(sink);
    this.#engine.order({ op: "spawn", id, spec });
    return {
      release: () => {
        if (this.#table.remove(id)) this.#engine.order({ op: "release", id });
      },
    };
  }
}

export const inProcessSpawner: Spawner = new InProcessSpawner();
