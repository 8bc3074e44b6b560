import { describe, expect, it } from "vitest";
import { type AnyActorRef, createActor, fromCallback, fromPromise, waitFor } from "xstate";
import { agentMachine } from "../../src/machines/agent.machine.js";
import {
  type CommandEvent,
  commandMachine,
  type Launch,
  type Skip,
} from "../../src/machines/command.machine.js";
import type { Command } from "../../src/services/wire/types.js";
import { sampleCommand } from "../helpers/commands.js";

const nothing = { head: Buffer.alloc(0), tail: Buffer.alloc(0), droppedBytes: 0, totalBytes: 0 };

// Every command runs to its end at once: the root's side of the lifecycle is what is tested.
const instantCommand = commandMachine.provide({
  actors: {
    evaluateGates: fromPromise(async (): Promise<Skip | null> => null),
    acquireSlot: fromPromise(async () => {}),
    launch: fromPromise(async () => ({ resultId: "res", startedAt: 0, spawnAt: 0 })),
    run: fromCallback<CommandEvent, { requestId: string; command: Command; launch: Launch }>(
      ({ sendBack }) => {
        queueMicrotask(() =>
          sendBack({
            type: "EXITED",
            outcome: {
              exitCode: 0,
              stdout: nothing,
              stderr: nothing,
              notes: [],
              finishedAt: 0,
            },
          }),
        );
        return () => {};
      },
    ),
    report: fromPromise(async () => {}),
  },
});

const liveCommands = (root: AnyActorRef) =>
  Object.keys(root.getSnapshot().children).filter((id) => id.startsWith("command#"));

describe("agent machine: command actors", () => {
  it("stops each command actor when it ends, hearing of it by one event type for all commands", async () => {
    const rootEvents: string[] = [];
    const root = createActor(agentMachine.provide({ actors: { command: instantCommand } }), {
      input: { localScheduler: { pcId: "pc-1", now: () => 0 } },
      inspect: (e) => {
        if (e.type === "@xstate.event" && e.actorRef === root) rootEvents.push(e.event.type);
      },
    });
    root.start();
    try {
      for (let i = 0; i < 20; i++) {
        const command = sampleCommand({ requestId: `req-${i}` });
        root.send({
          type: "COMMAND_ADMITTED",
          admitted: {
            requestId: command.requestId,
            command,
            receivedAt: 0,
          } as never,
        });
        expect(liveCommands(root)).toEqual([`command#req-${i}`]);
        await waitFor(root, (s) => s.context.commands === 0, { timeout: 2_000 });
        expect(liveCommands(root)).toEqual([]);
      }
      // xstate keeps the transitions it selected for every event type a machine receives, for
      // the machine's life: a type per command (a final child's `xstate.done.actor.<id>`) leaks.
      const perCommand = rootEvents.filter((t) => t.includes("req-"));
      expect(perCommand).toEqual([]);
      expect(rootEvents.filter((t) => t === "COMMAND_ENDED")).toHaveLength(20);
    } finally {
      root.stop();
    }
  });

  it("lets go of a command actor that fails (a throwing action): logged, stopped, counted down", async () => {
    const failed: { requestId: string; error: unknown }[] = [];
    const buggy = instantCommand.provide({
      actions: {
        releaseSlot: () => {
          throw new Error("bug in releaseSlot");
        },
      },
    });
    const root = createActor(
      agentMachine.provide({
        actors: { command: buggy },
        actions: { commandFailed: (_, params) => failed.push(params) },
      }),
      { input: { localScheduler: { pcId: "pc-1", now: () => 0 } } },
    ).start();
    try {
      for (let i = 0; i < 3; i++) {
        const command = sampleCommand({ requestId: `bad-${i}` });
        root.send({
          type: "COMMAND_ADMITTED",
          admitted: { requestId: command.requestId, command, receivedAt: 0 } as never,
        });
        await waitFor(root, (s) => s.context.commands === 0, { timeout: 2_000 });
      }
      expect(liveCommands(root)).toEqual([]);
      expect(failed.map((f) => f.requestId)).toEqual(["bad-0", "bad-1", "bad-2"]);
      expect(String(failed[0]?.error)).toContain("bug in releaseSlot");
    } finally {
      root.stop();
    }
  });
});
