import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderCaptured } from "../../../src/services/exec/capture.js";
import { buildInvocation, type Invocation } from "../../../src/services/exec/invocation.js";
import { type RunHandle, type StartRunOptions, startRun } from "../../../src/services/exec/run.js";
import { inProcessSpawner, type Spawner } from "../../../src/services/exec/spawner.js";
import { SpawnHelper } from "../../../src/services/exec/spawnHelper.js";

let root: string;
let runCount = 0;
const leftovers: number[] = [];
const groups: number[] = [];

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "kanade-exec-"));
});

const helper = new SpawnHelper();
let spawner: Spawner = inProcessSpawner;

afterAll(() => {
  helper.close();
  // A failed assertion must not leave sleeping trees behind.
  for (const pgid of groups) {
    if (liveMembers(pgid).length > 0) process.kill(-pgid, "SIGKILL");
  }
  for (const pid of leftovers) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  }
  fs.rmSync(root, { recursive: true, force: true });
});

const sh = (script: string): Invocation =>
  buildInvocation({ shell: "sh", script, platform: "linux", scriptDir: "/unused" });

function run(invocation: Invocation, opts: Partial<StartRunOptions> = {}): RunHandle {
  runCount++;
  const handle = startRun({
    invocation,
    env: process.env,
    scriptDir: path.join(root, `scripts-${runCount}`),
    timeoutMs: 20_000,
    spawner,
    ...opts,
  });
  void handle.started.then((pid) => pid !== undefined && groups.push(pid));
  return handle;
}

const text = (b: Buffer) => b.toString("utf8");

/** Non-zombie processes of a process group, read straight from /proc. */
function liveMembers(pgid: number): number[] {
  const live: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "latin1");
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(pgrp) === pgid && state !== "Z") live.push(Number(entry));
    } catch {}
  }
  return live;
}

function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const onPath = (program: string) => {
  try {
    execFileSync("/bin/sh", ["-c", `command -v ${program}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};

describe.each([
  ["spawned from this process", inProcessSpawner],
  ["spawned by the spawn helper", helper],
])("startRun with real processes (behavior.md 7.3–7.15), %s", (_name, using: Spawner) => {
  beforeAll(() => {
    spawner = using;
  });

  it("reports the exit code and captures stdout and stderr", async () => {
    const h = run(sh("echo out; printf 'line1\\nerr' >&2; exit 7"));
    expect(await h.started).toBeGreaterThan(0);
    expect(h.pid).toBe(await h.started);
    expect(h.spawnedAt).toBeGreaterThan(Date.now() - 10_000);
    const o = await h.done;
    expect(o.exitCode).toBe(7);
    expect(text(o.stdout.head)).toBe("out\n");
    expect(renderCaptured(o.stderr, "stderr", o.notes)).toBe("line1\nerr");
    expect(o.notes).toEqual([]);
    expect(o.killedBy).toBeUndefined();
    expect((await run(sh("true")).done).exitCode).toBe(0);
  });

  it("keeps a 3 MiB output byte for byte", async () => {
    const line = "0123456789abcde\n";
    const size = 3 * 1024 * 1024;
    const o = await run(sh(`yes 0123456789abcde | head -c ${size}`)).done;
    expect(o.exitCode).toBe(0);
    expect(o.stdout.totalBytes).toBe(size);
    expect(o.stdout.droppedBytes).toBe(0);
    const all = Buffer.concat([o.stdout.head, o.stdout.tail]);
    expect(all.length).toBe(size);
    expect(all.equals(Buffer.from(line.repeat(size / line.length)))).toBe(true);
  });

  it("over the cap keeps head and tail exactly and marks the dropped bytes", async () => {
    const o = await run(sh("seq 1 1000; seq 1 3 >&2"), { maxCaptureBytes: 30 }).done;
    const expected = Buffer.from(`${Array.from({ length: 1000 }, (_, i) => i + 1).join("\n")}\n`);
    expect(o.stdout.head).toEqual(expected.subarray(0, 20));
    expect(o.stdout.tail).toEqual(expected.subarray(expected.length - 10));
    expect(o.stdout.droppedBytes).toBe(expected.length - 30);
    expect(o.stdout.totalBytes).toBe(expected.length);
    expect(renderCaptured(o.stdout, "stdout")).toBe(
      `1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n[kanade-agent: ${expected.length - 30} bytes of stdout dropped]\n\n999\n1000\n`,
    );
    expect(renderCaptured(o.stderr, "stderr")).toBe("1\n2\n3\n");
  });

  it("a timeout kills the whole tree, grandchild holding stdout included", async () => {
    const t0 = performance.now();
    const h = run(sh("sleep 60 & echo $!; sleep 60"), { timeoutMs: 1000 });
    const pgid = (await h.started)!;
    const o = await h.done;
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(950);
    expect(elapsed).toBeLessThan(4000);
    expect(o.exitCode).toBe(-1);
    expect(o.killedBy).toBe("timeout");
    expect(o.notes).toEqual(["timeout after 1s"]);
    expect(renderCaptured(o.stderr, "stderr", o.notes)).toBe("timeout after 1s");
    const grandchild = Number(text(o.stdout.head).trim());
    expect(grandchild).toBeGreaterThan(0);
    leftovers.push(grandchild);
    expect(isAlive(grandchild)).toBe(false);
    expect(liveMembers(pgid)).toEqual([]);
  });

  it("a timeout under one second runs for one second", async () => {
    const t0 = performance.now();
    const o = await run(sh("sleep 30"), { timeoutMs: 0 }).done;
    expect(performance.now() - t0).toBeGreaterThanOrEqual(950);
    expect(o.notes).toEqual(["timeout after 1s"]);
  });

  it("a remote kill ends a running child; the first kill wins, later ones are ignored", async () => {
    const marker = path.join(root, `kill-started-${runCount}`);
    const h = run(sh(`echo before; echo warn >&2; touch '${marker}'; sleep 30`), {
      execId: "e-9",
    });
    await waitFor("the script to start", () => fs.existsSync(marker));
    const t0 = performance.now();
    expect(h.kill("remote")).toBe(true);
    expect(h.kill("timeout")).toBe(false);
    const o = await h.done;
    expect(performance.now() - t0).toBeLessThan(1500);
    expect(o.exitCode).toBe(-1);
    expect(o.killedBy).toBe("remote");
    expect(o.signal).toBe("SIGTERM");
    expect(text(o.stdout.head)).toBe("before\n");
    expect(renderCaptured(o.stderr, "stderr", o.notes)).toBe(
      "warn\n\nkilled by remote signal (kill.e-9)",
    );
    expect(liveMembers(h.pid!)).toEqual([]);
    expect(h.kill("stopping")).toBe(false);
  });

  it("a kill right after the start, before the spawner said the child runs, still ends its tree", async () => {
    const marker = path.join(root, `early-kill-${runCount}`);
    const h = run(sh(`touch '${marker}'; sleep 60`), { execId: "e-early" });
    expect(h.kill("remote")).toBe(true); // the helper has not answered yet
    const t0 = performance.now();
    const o = await h.done;
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(o.exitCode).toBe(-1);
    expect(o.killedBy).toBe("remote");
    expect(o.notes).toEqual(["killed by remote signal (kill.e-early)"]);
    const pgid = await h.started;
    if (pgid !== undefined) expect(liveMembers(pgid)).toEqual([]);
  });

  it("escalates to SIGKILL after the grace when the tree ignores SIGTERM", async () => {
    const marker = path.join(root, `trap-started-${runCount}`);
    const h = run(sh(`trap '' TERM; sleep 60 & echo $!; touch '${marker}'; sleep 60`));
    await waitFor("the script to start", () => fs.existsSync(marker));
    const t0 = performance.now();
    h.kill("stopping", 300);
    const o = await h.done;
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(2500);
    expect(o.exitCode).toBe(-1);
    expect(o.signal).toBe("SIGKILL");
    expect(o.notes).toEqual(["killed: agent stopping"]);
    const grandchild = Number(text(o.stdout.head).trim());
    leftovers.push(grandchild);
    expect(isAlive(grandchild)).toBe(false);
    expect(liveMembers(h.pid!)).toEqual([]);
  });

  it("after a normal exit waits at most pipeDrainMs for a grandchild holding stdout, and spares it", async () => {
    const t0 = performance.now();
    const h = run(sh("sleep 60 & echo $!; (sleep 3; echo late) & echo early; exit 0"), {
      pipeDrainMs: 500,
    });
    const o = await h.done;
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(2000);
    expect(o.exitCode).toBe(0);
    expect(o.notes).toEqual([]);
    const [pidLine, early] = text(o.stdout.head).split("\n");
    const grandchild = Number(pidLine);
    leftovers.push(grandchild);
    expect(early).toBe("early");
    expect(text(o.stdout.head)).not.toContain("late");
    expect(isAlive(grandchild)).toBe(true);
    expect(h.kill("remote")).toBe(false);
    expect(isAlive(grandchild)).toBe(true);
    process.kill(-h.pid!, "SIGKILL");
  });

  it("a signal the agent did not send: -1 and `terminated by signal <NAME>`", async () => {
    const o = await run(sh("echo partial; kill -KILL $$")).done;
    expect(o.exitCode).toBe(-1);
    expect(o.signal).toBe("SIGKILL");
    expect(o.killedBy).toBeUndefined();
    expect(o.notes).toEqual(["terminated by signal SIGKILL"]);
    expect(text(o.stdout.head)).toBe("partial\n");
  });

  it("an intent line is on disk before the child starts; one that cannot be written means no child", async () => {
    const file = path.join(root, `intents-${runCount}`);
    const line = `00000000 "r-${runCount}" {"state":"running"}\n`;
    const o = await run(sh(`cat '${file}'`), { intent: { file, line } }).done;
    expect(o.exitCode).toBe(0);
    expect(text(o.stdout.head)).toBe(line);

    const nowhere = path.join(root, "no-such-dir", "intents-1");
    const marker = path.join(root, `never-${runCount}`);
    const h = run(sh(`touch '${marker}'`), { intent: { file: nowhere, line } });
    const failed = await h.done;
    expect(failed.exitCode).toBe(120);
    expect(failed.failedToStart).toMatch(/^cannot record the start in .*no-such-dir.*ENOENT/);
    expect(await h.started).toBeUndefined();
    expect(fs.existsSync(marker)).toBe(false);
  });

  it("a missing working directory is exit 120, failed to start", async () => {
    const cwd = path.join(root, "no-such-dir");
    const h = run(sh("echo never"), { cwd });
    expect(h.pid).toBeUndefined();
    expect(await h.started).toBeUndefined();
    const o = await h.done;
    expect(o.exitCode).toBe(120);
    expect(o.failedToStart).toBe(`working directory ${cwd} does not exist`);
    expect(renderCaptured(o.stderr, "stderr", o.notes)).toBe(
      `failed to start: working directory ${cwd} does not exist`,
    );
    expect(o.stdout.totalBytes).toBe(0);
    expect(h.kill("remote")).toBe(false);
  });

  it.skipIf(onPath("pwsh"))("pwsh missing from PATH is exit 120 with the reason", async () => {
    const scriptDir = path.join(root, "pwsh-missing");
    const invocation = buildInvocation({
      shell: "pwsh",
      script: "Write-Output 1",
      platform: "linux",
      scriptDir,
    });
    const o = await run(invocation, { scriptDir }).done;
    expect(o.exitCode).toBe(120);
    expect(o.notes).toEqual(["failed to start: pwsh not found on PATH"]);
    expect(fs.existsSync(scriptDir)).toBe(false);
  });

  it("a program given by a path that does not exist is exit 120", async () => {
    const file = path.join(root, "no-such-program");
    const o = await run({ file, args: [], staged: [] }).done;
    expect(o.exitCode).toBe(120);
    expect(o.notes).toEqual([`failed to start: ${file} not found`]);
  });

  it("runs in the given directory with the agent's environment minus the NATS token", async () => {
    const cwd = fs.mkdtempSync(path.join(root, "cwd-"));
    const o = await run(sh("pwd; env"), {
      cwd,
      env: { ...process.env, KANADE_NATS_TOKEN: "s3cret", KANADE_EXEC_TEST_MARK: "visible" },
    }).done;
    const lines = text(o.stdout.head).split("\n");
    expect(lines[0]).toBe(fs.realpathSync(cwd));
    expect(lines).toContain("KANADE_EXEC_TEST_MARK=visible");
    expect(text(o.stdout.head)).not.toContain("KANADE_NATS_TOKEN");
    expect(text(o.stdout.head)).not.toContain("s3cret");
  });

  it("stdin is empty and closed: cat returns at once", async () => {
    const t0 = performance.now();
    const o = await run(sh("cat; echo done")).done;
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(o.exitCode).toBe(0);
    expect(text(o.stdout.head)).toBe("done\n");
  });

  it("stages files into the script directory for the run and deletes them after", async () => {
    const scriptDir = path.join(root, "staged-run");
    const invocation: Invocation = {
      file: "/bin/sh",
      args: [path.join(scriptDir, "s.sh")],
      staged: [
        { name: "s.sh", content: Buffer.from('ls "$(dirname "$0")"; exit 4\n') },
        { name: "data.txt", content: Buffer.from("x") },
      ],
    };
    const o = await run(invocation, { scriptDir }).done;
    expect(o.exitCode).toBe(4);
    expect(text(o.stdout.head)).toBe("data.txt\ns.sh\n");
    expect(fs.existsSync(scriptDir)).toBe(false);
  });
});
