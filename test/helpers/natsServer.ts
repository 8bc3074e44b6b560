import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { join } from "node:path";
import { killAtExit, tempDir } from "./tmp.js";
import { sleep, waitFor } from "./waitFor.js";

export interface NatsServerOptions {
  /** `-js` (default true). */
  jetstream?: boolean;
  /** JetStream store dir (`-sd`); a fresh temp dir by default. */
  storeDir?: string;
  /** Extra command-line arguments, appended last. */
  args?: string[];
  /** Text of a nats-server config file, passed with `-c`; command-line flags win over it. */
  config?: string;
  /** Client port; a random free one by default. Kept across `restart()`. */
  port?: number;
  /** How long to wait for the server to accept clients (default 10 s). */
  readyTimeoutMs?: number;
}

const MAX_LOG_LINES = 20_000;

/**
 * A real nats-server child process on 127.0.0.1, for tests. Start it with `NatsServer.start()`
 * and `stop()` it in `afterEach`; a worker-exit hook SIGKILLs any that a test forgot.
 */
export class NatsServer {
  readonly storeDir: string;
  /** Folder for the config file and ports files. */
  readonly workDir: string;
  #port: number;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #frozen = false;
  #log: string[] = [];
  readonly #opts: NatsServerOptions;

  private constructor(opts: NatsServerOptions) {
    this.#opts = opts;
    this.workDir = tempDir("kanade-nats-");
    this.storeDir = opts.storeDir ?? join(this.workDir, "store");
    this.#port = opts.port ?? -1;
  }

  static async start(opts: NatsServerOptions = {}): Promise<NatsServer> {
    const server = new NatsServer(opts);
    await server.#launch();
    return server;
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.#port}`;
  }

  /** Pid of the current server process; 0 when it is not running. */
  get pid(): number {
    return this.running ? (this.#child?.pid ?? 0) : 0;
  }

  get running(): boolean {
    const c = this.#child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  /** Captured stderr log lines of every run of this server, oldest first (bounded). */
  get logLines(): readonly string[] {
    return this.#log;
  }

  logContains(re: RegExp): boolean {
    return this.#log.some((line) => re.test(line));
  }

  /** Waits until a log line matches `re` (a line logged before the call counts). */
  async waitForLog(re: RegExp, timeoutMs = 10_000): Promise<void> {
    await waitFor(() => this.logContains(re), {
      timeoutMs,
      what: `nats-server log line ${re} (last lines:\n${this.#log.slice(-10).join("\n")})`,
    });
  }

  /** SIGKILL (a crash) and wait for the process to be gone. Safe to call when not running. */
  async stop(): Promise<void> {
    if (this.running) this.#child?.kill("SIGKILL");
    this.#frozen = false;
    await this.#exited;
  }

  /** SIGTERM: graceful shutdown; waits for the exit. */
  async shutdown(timeoutMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.#thawIfFrozen();
    this.#child?.kill("SIGTERM");
    await this.#awaitExit(timeoutMs, "shutdown (SIGTERM)");
  }

  /**
   * Lame duck mode (SIGUSR2, what `nats-server --signal ldm=<pid>` sends on 2.9): the server stops
   * accepting clients, closes existing ones over `lame_duck_duration`, then exits. Resolves when
   * the server has logged that it entered lame duck mode; `exited()` tells when it is gone.
   */
  async lameDuck(): Promise<void> {
    if (!this.running) throw new Error(`nats-server ${this.url} is not running`);
    this.#thawIfFrozen();
    const from = this.#log.length;
    this.#child?.kill("SIGUSR2");
    await waitFor(() => this.#log.slice(from).some((l) => /Entering lame duck mode/.test(l)), {
      timeoutMs: 5_000,
      what: `nats-server ${this.url} to enter lame duck mode`,
    });
  }

  /** Resolves when the current server process has exited (immediately when not running). */
  exited(): Promise<void> {
    return this.#exited;
  }

  /**
   * SIGSTOP: the server keeps its sockets open but answers nothing. Resolves once every thread of
   * the process is stopped (a signal is delivered asynchronously; without the wait, a request sent
   * right after could still be answered).
   */
  async freeze(): Promise<void> {
    if (!this.running) throw new Error(`nats-server ${this.url} is not running`);
    const pid = this.pid;
    this.#child?.kill("SIGSTOP");
    this.#frozen = true;
    await waitFor(() => allThreadsStopped(pid), {
      timeoutMs: 5_000,
      intervalMs: 5,
      what: `nats-server ${this.url} (pid ${pid}) to stop after SIGSTOP`,
    });
  }

  /** SIGCONT after `freeze()`. */
  thaw(): void {
    this.#thawIfFrozen();
  }

  /**
   * Kills the server (SIGKILL, or SIGTERM with `graceful`) and starts it again on the same port
   * with the same store, or with an emptied store (`emptyStore`). Also starts a stopped server.
   */
  async restart(opts: { emptyStore?: boolean; graceful?: boolean } = {}): Promise<void> {
    if (opts.graceful) await this.shutdown();
    else await this.stop();
    if (opts.emptyStore) rmSync(this.storeDir, { recursive: true, force: true });
    await this.#launch();
  }

  #thawIfFrozen(): void {
    if (this.#frozen && this.running) this.#child?.kill("SIGCONT");
    this.#frozen = false;
  }

  async #awaitExit(timeoutMs: number, what: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    const r = await Promise.race([this.#exited, timedOut]);
    clearTimeout(timer);
    if (r === "timeout") {
      this.#child?.kill("SIGKILL");
      await this.#exited;
      throw new Error(`nats-server ${this.url} did not exit within ${timeoutMs} ms after ${what}`);
    }
  }

  async #launch(): Promise<void> {
    // A restart on a fixed port can lose a race with another socket bound to it in the meantime;
    // such a conflict is brief, so retry a few times before giving up.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#launchOnce();
        return;
      } catch (err) {
        const inUse = /address already in use/i.test(String(err));
        if (!inUse || attempt >= 5) throw err;
        await sleep(200 * attempt);
      }
    }
  }

  async #launchOnce(): Promise<void> {
    const o = this.#opts;
    const args = ["-a", "127.0.0.1", "-p", String(this.#port), "--ports_file_dir", this.workDir];
    if (o.jetstream ?? true) {
      mkdirSync(this.storeDir, { recursive: true });
      args.push("-js", "-sd", this.storeDir);
    }
    if (o.config !== undefined) {
      const file = join(this.workDir, "server.conf");
      writeFileSync(file, o.config);
      args.push("-c", file);
    }
    args.push(...(o.args ?? []));

    const child = spawn("nats-server", args, { stdio: ["ignore", "ignore", "pipe"] });
    killAtExit(child);
    this.#child = child;
    let spawnError: Error | undefined;
    this.#exited = new Promise<void>((resolve) => {
      child.once("error", (err) => {
        spawnError = err;
        resolve();
      });
      child.once("exit", () => resolve());
    });
    let partial = "";
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      const lines = (partial + chunk).split("\n");
      partial = lines.pop() ?? "";
      this.#log.push(...lines);
      if (this.#log.length > MAX_LOG_LINES) this.#log.splice(0, this.#log.length - MAX_LOG_LINES);
    });

    const timeoutMs = o.readyTimeoutMs ?? 10_000;
    const deadline = Date.now() + timeoutMs;
    const logFrom = this.#log.length;
    const failure = (why: string) =>
      new Error(
        `nats-server ${why} (args: ${args.join(" ")}); log:\n${this.#log.slice(logFrom).slice(-15).join("\n")}`,
      );

    for (;;) {
      if (spawnError) throw failure(`could not be spawned: ${spawnError.message}`);
      if (!this.running) {
        // Let the remaining stderr arrive so the error names the real cause.
        await sleep(50);
        throw failure(`exited during start-up (code ${child.exitCode}, ${child.signalCode})`);
      }
      if (this.#port <= 0) {
        const port = this.#readPortsFile(child.pid ?? 0);
        if (port !== undefined) this.#port = port;
      }
      if (this.#port > 0 && (await acceptsClients(this.#port))) return;
      if (Date.now() >= deadline) {
        child.kill("SIGKILL");
        await this.#exited;
        throw failure(`did not accept clients within ${timeoutMs} ms`);
      }
      await sleep(20);
    }
  }

  #readPortsFile(pid: number): number | undefined {
    try {
      const text = readFileSync(join(this.workDir, `nats-server_${pid}.ports`), "utf8");
      const parsed = JSON.parse(text) as { nats?: string[] };
      const url = parsed.nats?.[0];
      const port = url === undefined ? Number.NaN : Number(new URL(url).port);
      return Number.isInteger(port) && port > 0 ? port : undefined;
    } catch {
      // Not written yet, or written half-way.
      return undefined;
    }
  }
}

/**
 * True when every thread of `pid` is in the stopped state (Linux `/proc`). Where `/proc` is not
 * available the state cannot be read; the signal is then trusted to have landed.
 */
function allThreadsStopped(pid: number): boolean {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return true;
  }
  return tasks.every((tid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      return state === "T" || state === "t";
    } catch {
      // The thread ended meanwhile.
      return true;
    }
  });
}

/** True when a TCP connect to the port gets the server's INFO greeting. */
function acceptsClients(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: "127.0.0.1", port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once("error", () => done(false));
    socket.once("data", (d: Buffer) => done(d.toString("utf8").startsWith("INFO ")));
  });
}
