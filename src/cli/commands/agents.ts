// `kanade agents [--since 60s] [--watch]`: the PCs whose heartbeats arrive on `heartbeat.>`.
// Heartbeats are core messages that no stream keeps, so the CLI listens: for the window, then
// prints; or, with --watch, redraws every second and forgets PCs silent for longer than it.
import type { NatsConnection } from "@nats-io/nats-core";
import type { Command } from "commander";
import { heartbeatWildcard } from "../../services/nats/subjects.js";
import {
  decodeHeartbeat,
  encodeHeartbeat,
  formatTimestamp,
  type Heartbeat,
  parseJson,
} from "../../services/wire/index.js";
import type { CliContext, Runner } from "../context.js";
import { EXIT } from "../errors.js";
import { startProgress } from "../format/progress.js";
import { renderTable } from "../format/table.js";
import { formatAge, formatBytes, formatPct } from "../format/units.js";
import { durationOption } from "../options.js";

const DEFAULT_WINDOW_MS = 60_000;
const REDRAW_MS = 1_000;
/** More PCs than this are not tracked (the oldest is forgotten first). */
export const MAX_TRACKED_AGENTS = 100_000;

interface Seen {
  hb: Heartbeat;
  receivedAt: number;
  count: number;
}

export function registerAgents(program: Command, run: Runner): void {
  program
    .command("agents")
    .description("PCs whose heartbeats arrive (version, age, agent CPU and memory)")
    .addOption(
      durationOption(
        "--since <duration>",
        "listen this long, then print (with --watch: forget PCs silent for longer)",
        DEFAULT_WINDOW_MS,
      ),
    )
    .option("--watch", "redraw every second until Ctrl-C")
    .addHelpText(
      "after",
      "\nHeartbeats are not stored by the broker: without --watch the command listens for the\nwhole window (default 60s, twice the default heartbeat interval) before it prints.",
    )
    .action((opts: { since: number; watch?: boolean }, cmd: Command) =>
      run(cmd, (ctx) => agents(ctx, opts.since, opts.watch === true)),
    );
}

async function agents(ctx: CliContext, windowMs: number, watch: boolean): Promise<number> {
  return ctx.withNats(async (nc) => {
    // One signal for "stop waiting": Ctrl-C or the connection closing for good.
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    if (ctx.io.signal.aborted) stop.abort();
    ctx.io.signal.addEventListener("abort", onAbort, { once: true });
    void nc.closed().then(() => stop.abort());
    try {
      return watch
        ? await watchAgents(ctx, nc, windowMs, stop.signal)
        : await listAgents(ctx, nc, windowMs, stop.signal);
    } finally {
      ctx.io.signal.removeEventListener("abort", onAbort);
    }
  });
}

function track(
  ctx: CliContext,
  nc: NatsConnection,
  seen: Map<string, Seen>,
): { bad: () => number; stop: () => void } {
  let bad = 0;
  const sub = nc.subscribe(heartbeatWildcard(), {
    callback: (err, msg) => {
      if (err) return;
      const parsed = parseJson(msg.data);
      const decoded = parsed.ok ? decodeHeartbeat(parsed.value) : parsed;
      if (!decoded.ok) {
        bad++;
        return;
      }
      const hb = decoded.value;
      const before = seen.get(hb.pcId);
      // Re-inserting keeps the map in order of the last heartbeat: the first entry is the stalest.
      seen.delete(hb.pcId);
      seen.set(hb.pcId, { hb, receivedAt: ctx.io.clock.now(), count: (before?.count ?? 0) + 1 });
      if (seen.size > MAX_TRACKED_AGENTS) {
        const oldest = seen.keys().next().value;
        if (oldest !== undefined) seen.delete(oldest);
      }
    },
  });
  return { bad: () => bad, stop: () => sub.unsubscribe() };
}

/** Resolves after `ms`, or early when `stop` is aborted. */
function pause(ms: number, stop: AbortSignal): Promise<"elapsed" | "stopped"> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => done("elapsed"), ms);
    const onAbort = () => done("stopped");
    function done(why: "elapsed" | "stopped") {
      clearTimeout(timer);
      stop.removeEventListener("abort", onAbort);
      resolve(why);
    }
    if (stop.aborted) return done("stopped");
    stop.addEventListener("abort", onAbort, { once: true });
  });
}

async function listAgents(
  ctx: CliContext,
  nc: NatsConnection,
  windowMs: number,
  stop: AbortSignal,
): Promise<number> {
  const seen = new Map<string, Seen>();
  const tracker = track(ctx, nc, seen);
  const started = ctx.io.clock.monotonic();
  const progress = startProgress(
    ctx.io,
    () =>
      `listening on ${heartbeatWildcard()}: ${seen.size} PC(s), ${formatAge(Math.ceil((windowMs - (ctx.io.clock.monotonic() - started)) / 1000) * 1000)} left`,
  );
  try {
    await pause(windowMs, stop);
  } finally {
    progress.stop();
    tracker.stop();
  }
  render(ctx, seen, tracker.bad(), false);
  return EXIT.ok;
}

async function watchAgents(
  ctx: CliContext,
  nc: NatsConnection,
  windowMs: number,
  stop: AbortSignal,
): Promise<number> {
  const seen = new Map<string, Seen>();
  const tracker = track(ctx, nc, seen);
  try {
    for (;;) {
      const now = ctx.io.clock.now();
      for (const [pcId, s] of seen) if (now - s.receivedAt > windowMs) seen.delete(pcId);
      render(ctx, seen, tracker.bad(), true);
      if ((await pause(REDRAW_MS, stop)) === "stopped") break;
    }
  } finally {
    tracker.stop();
  }
  return nc.isClosed() ? EXIT.failed : EXIT.ok;
}

function render(
  ctx: CliContext,
  seen: ReadonlyMap<string, Seen>,
  bad: number,
  live: boolean,
): void {
  const now = ctx.io.clock.now();
  const list = [...seen.values()].sort((a, b) =>
    a.hb.pcId < b.hb.pcId ? -1 : a.hb.pcId > b.hb.pcId ? 1 : 0,
  );
  if (ctx.json) {
    ctx.printJson({
      at: formatTimestamp(now),
      agents: list.map((s) => ({
        pc_id: s.hb.pcId,
        age_ms: Math.max(0, now - s.receivedAt),
        received_at: formatTimestamp(s.receivedAt),
        heartbeats: s.count,
        heartbeat: encodeHeartbeat(s.hb),
      })),
      undecodable: bad,
    });
    return;
  }
  const table = renderTable(
    [
      { header: "PC" },
      { header: "VERSION" },
      { header: "AGE", right: true },
      { header: "CPU%", right: true },
      { header: "RSS", right: true },
      { header: "HOST" },
      { header: "OS" },
    ],
    list.map((s) => [
      s.hb.pcId,
      s.hb.agentVersion +
        (s.hb.quarantinedVersions ? ` (quarantined: ${s.hb.quarantinedVersions.join(",")})` : ""),
      formatAge(now - s.receivedAt),
      formatPct(s.hb.agentCpuPct),
      s.hb.agentRssBytes === undefined ? "-" : formatBytes(s.hb.agentRssBytes),
      s.hb.hostname ?? "-",
      s.hb.osFamily ?? "-",
    ]),
  );
  const footer = `${list.length} PC(s)${bad > 0 ? `, ${bad} undecodable heartbeat(s) ignored` : ""}`;
  // On a terminal, --watch redraws in place; in a pipe each refresh is appended.
  if (live && ctx.io.stdoutIsTTY) ctx.io.stdout.write("\x1b[H\x1b[2J");
  ctx.print(`${table}${footer}${live ? `  (${formatTimestamp(now)}, Ctrl-C to stop)` : ""}`);
}
