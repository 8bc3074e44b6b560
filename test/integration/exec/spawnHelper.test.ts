import * as childProcesses from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { isAlive } from "../../../faults/processes.js";
import { buildInvocation } from "../../../src/services/exec/invocation.js";
import { type StartRunOptions, startRun } from "../../../src/services/exec/run.js";
import { spawnEngine } from "../../../src/services/exec/spawnEngine.js";
import { SpawnHelper } from "../../../src/services/exec/spawnHelper.js";
import { SpawnHelperPool } from "../../../src/services/exec/spawnHelperPool.js";
import type { SpawnEvent } from "../../../src/services/exec/spawnProtocol.js";
import { REPO_ROOT } from "../../helpers/agentProcess.js";
import { waitFor } from "../../helpers/waitFor.js";

let root: string;
const helpers: SpawnHelper[] = [];
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "kanade-spawner-"));
});
afterEach(() => {
  for (const h of helpers.splice(0)) h.close();
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const newHelper = (opts: ConstructorParameters<typeof SpawnHelper>[0] = {}) => {
  const h = new SpawnHelper(opts);
  helpers.push(h);
  return h;
};

let n = 0;
const run = (
  script: string,
  spawner: SpawnHelper | SpawnHelperPool,
  opts: Partial<StartRunOptions> = {},
) =>
  startRun({
    invocation: buildInvocation({ shell: "sh", script, platform: "linux", scriptDir: "/unused" }),
    env: process.env,
    scriptDir: path.join(root, `s-${++n}`),
    timeoutMs: 20_000,
    spawner,
    ...opts,
  });

const text = (b: Buffer) => b.toString("utf8");

describe("spawn helper (children forked by a small process, not the agent)", () => {
  it("the child's parent is the helper, a separate process named in ps", async () => {
    const helper = newHelper();
    const o = await run("echo $PPID", helper).done;
    expect(o.exitCode).toBe(0);
    const helperPid = helper.pid!;
    expect(Number(text(o.stdout.head).trim())).toBe(helperPid);
    expect(helperPid).not.toBe(process.pid);
    expect(fs.readFileSync(`/proc/${helperPid}/cmdline`, "utf8")).toContain(
      "kanade-agent spawn helper",
    );
    expect(helper.inProcess).toBe(false);
  });

  it("a helper killed mid-run: the run ends at once with -1 and a note, its tree is killed, the next run gets a new helper", async () => {
    const helper = newHelper();
    const h = run("sleep 60 & echo $!; sleep 60", helper, { timeoutMs: 60_000 });
    const pgid = (await h.started)!;
    await waitFor(() => isAlive(pgid));
    const first = helper.pid!;
    const t0 = performance.now();
    process.kill(first, "SIGKILL");
    const o = await h.done;
    expect(performance.now() - t0).toBeLessThan(2_000);
    expect(o.exitCode).toBe(-1);
    expect(o.notes).toEqual([
      "[agent: the spawn helper was killed by SIGKILL; the script was killed, its exit code is unknown]",
    ]);
    await waitFor(() => !isAlive(pgid), { what: "the orphaned script to be killed" });

    const next = await run("echo again", helper).done;
    expect(next.exitCode).toBe(0);
    expect(text(next.stdout.head)).toBe("again\n");
    expect(helper.pid).not.toBe(first);
  });

  it("an environment sent once serves the next orders; a different one replaces it", async () => {
    const helper = newHelper();
    const first = { ...process.env, KANADE_TEST_COLOUR: "blue" };
    const second = { ...process.env, KANADE_TEST_COLOUR: "green" };
    const colour = async (env: NodeJS.ProcessEnv) =>
      text((await run('printf %s "$KANADE_TEST_COLOUR"', helper, { env }).done).stdout.head);
    expect(await colour(first)).toBe("blue");
    expect(await colour(first)).toBe("blue"); // sent without its environment
    expect(await colour(second)).toBe("green");
    expect(await colour(first)).toBe("blue");
  });

  it("a run in flight keeps the agent's process alive; an idle helper does not", async () => {
    // A process whose only work is one run through the helper (the built module, as deployed).
    const mod = path.join(REPO_ROOT, "dist", "services", "exec");
    const script = `
      const { SpawnHelper } = await import(${JSON.stringify(path.join(mod, "spawnHelper.js"))});
      const { startRun } = await import(${JSON.stringify(path.join(mod, "run.js"))});
      const helper = new SpawnHelper();
      const run = startRun({
        invocation: { file: "/bin/sh", args: ["-c", "sleep 0.3; echo finished"], staged: [] },
        env: { PATH: process.env.PATH }, scriptDir: "/unused", timeoutMs: 10000, spawner: helper,
      });
      run.done.then((o) => console.log(o.stdout.head.toString().trim()));`;
    const t0 = performance.now();
    const out = childProcesses.execFileSync(
      process.execPath,
      ["--input-type=module", "-e", script],
      {
        encoding: "utf8",
        timeout: 10_000,
      },
    );
    expect(out.trim()).toBe("finished");
    // It exited by itself once the run was over: the idle helper held nothing open.
    expect(performance.now() - t0).toBeLessThan(5_000);
  });

  it("an idle helper exits and the next spawn starts another", async () => {
    const helper = newHelper({ idleExitMs: 200 });
    expect((await run("true", helper).done).exitCode).toBe(0);
    const first = helper.pid!;
    await waitFor(() => !isAlive(first), { what: "the idle helper to exit" });
    expect(helper.pid).toBeUndefined();
    expect((await run("echo back", helper).done).exitCode).toBe(0);
    expect(helper.pid).toBeGreaterThan(0);
  });

  it("close() ends the helper; later spawns run from this process", async () => {
    const helper = newHelper();
    await run("true", helper).done;
    const pid = helper.pid!;
    helper.close();
    await waitFor(() => !isAlive(pid), { what: "the helper to exit" });
    const o = await run("echo $PPID", helper).done;
    expect(Number(text(o.stdout.head).trim())).toBe(process.pid);
  });

  it("a helper that never starts loses nothing: after three quick deaths the agent spawns itself", async () => {
    const helper = newHelper({ execPath: "/bin/false" });
    const outcomes = await Promise.all([
      run("echo one", helper).done,
      run("echo two", helper).done,
    ]);
    expect(outcomes.map((o) => [o.exitCode, text(o.stdout.head)])).toEqual([
      [0, "one\n"],
      [0, "two\n"],
    ]);
    expect(helper.inProcess).toBe(true);
  });
});

describe("spawn engine flow control", () => {
  it("pauses the pipes while 1 MiB is sent but not yet out, then delivers every byte", async () => {
    const held: Array<() => void> = [];
    let received = 0;
    let exited = false;
    const engine = spawnEngine(
      childProcesses,
      fs,
      (event: SpawnEvent, sent) => {
        if (event.type === "data") received += event.chunk.length;
        if (event.type === "exit") exited = true;
        if (sent) held.push(sent);
      },
      true,
    );
    engine.order({
      op: "spawn",
      id: 1,
      spec: {
        file: "/bin/sh",
        args: ["-c", "head -c 8000000 /dev/zero"],
        cwd: undefined,
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
        detached: true,
        windowsVerbatimArguments: false,
      },
    });
    await waitFor(() => received > 1 << 20, { what: "1 MiB of output" });
    // Nothing acknowledged: reading stops short of the whole output and the writer blocks.
    let last = -1;
    await waitFor(
      () => {
        const still = received === last;
        last = received;
        return still;
      },
      { what: "reading to stop", intervalMs: 100 },
    );
    expect(received).toBeLessThan(2 << 20);
    expect(exited).toBe(false);
    // Acknowledge as they come: the rest flows.
    const timer = setInterval(() => {
      for (const s of held.splice(0)) s();
    }, 5);
    try {
      await waitFor(() => exited && engine.size === 0, { what: "the child to finish" });
    } finally {
      clearInterval(timer);
    }
    expect(received).toBe(8_000_000);
  });
});

describe("spawn helper pool (two commands can start at once)", () => {
  const pools: SpawnHelperPool[] = [];
  afterEach(() => {
    for (const p of pools.splice(0)) p.close();
  });

  it("one command at a time uses one helper; two at once are forked by two helpers", async () => {
    const pool = new SpawnHelperPool(2);
    pools.push(pool);
    for (let i = 0; i < 3; i++) expect((await run("true", pool).done).exitCode).toBe(0);
    expect(pool.pids).toHaveLength(1);

    const a = run("echo $PPID; sleep 1", pool);
    const b = run("echo $PPID; sleep 1", pool);
    const parents = (await Promise.all([a.done, b.done])).map((o) => Number(text(o.stdout.head)));
    expect(new Set(parents).size).toBe(2);
    expect(parents.sort()).toEqual([...pool.pids].sort());
    for (const pid of parents) {
      expect(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8")).toContain(
        "kanade-agent spawn helper",
      );
    }
  });

  it("a helper given up (it kept dying) is passed over while another one works", async () => {
    const pool = new SpawnHelperPool(2, {}, (opts, i) =>
      i === 0 ? new SpawnHelper({ ...opts, execPath: "/bin/false" }) : new SpawnHelper(opts),
    );
    pools.push(pool);
    // The first order goes to the broken helper: three quick deaths, then it runs in-process.
    expect(text((await run("echo one", pool).done).stdout.head)).toBe("one\n");
    const o = await run("echo $PPID", pool).done;
    expect(Number(text(o.stdout.head))).not.toBe(process.pid);
    expect(pool.pids).toEqual([Number(text(o.stdout.head))]);
  });

  it("close retires every helper", async () => {
    const pool = new SpawnHelperPool(2);
    pools.push(pool);
    await Promise.all([run("sleep 0.3", pool).done, run("sleep 0.3", pool).done]);
    const pids = pool.pids;
    expect(pids).toHaveLength(2);
    pool.close();
    await waitFor(() => pids.every((p) => !isAlive(p)), { what: "both helpers to exit" });
    expect(pool.pids).toEqual([]);
  });
});
