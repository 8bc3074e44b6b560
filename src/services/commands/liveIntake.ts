import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { Subject } from "rxjs";
import type { Logger } from "../logging/logger.js";
import { commandsAll, commandsGroup, commandsPc } from "../nats/subjects.js";
import type { Clock } from "../time/clock.js";
import type { IntakeMessage } from "./intake.js";

/**
 * The live core subscriptions (behavior.md 5.1a): `commands.all`, `commands.pc.<pc_id>` and one
 * per group membership, all feeding one stream. nats.js re-subscribes by itself after a
 * reconnect; a connection that was rebuilt gets fresh subscriptions through `attach`.
 */
export class LiveIntake {
  readonly messages$ = new Subject<IntakeMessage>();
  private nc: NatsConnection | null = null;
  private readonly subs = new Map<string, Subscription>();
  private groups = new Set<string>();
  private stopped = false;

  constructor(
    private readonly pcId: string,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** Subscribes everything on a (new) connection and flushes so the server has them. */
  async attach(nc: NatsConnection): Promise<void> {
    if (this.stopped) return;
    if (this.nc === nc && this.subs.size > 0) return;
    this.dropAll();
    this.nc = nc;
    for (const subject of this.wanted()) this.subscribe(subject);
    await nc.flush();
  }

  /** Replaces the group subscriptions (behavior.md 10.2); flushes after subscribing. */
  async setGroups(groups: Iterable<string>): Promise<void> {
    this.groups = new Set(groups);
    if (!this.nc || this.stopped) return;
    const wanted = new Set(this.wanted());
    for (const [subject, sub] of this.subs) {
      if (!wanted.has(subject)) {
        sub.unsubscribe();
        this.subs.delete(subject);
      }
    }
    for (const subject of wanted) if (!this.subs.has(subject)) this.subscribe(subject);
    await this.nc.flush();
  }

  /** Stops intake at once (behavior.md 18.2). */
  stop(): void {
    this.stopped = true;
    this.dropAll();
    this.messages$.complete();
  }

  private wanted(): string[] {
    return [commandsAll(), commandsPc(this.pcId), ...[...this.groups].map(commandsGroup)];
  }

  private subscribe(subject: string): void {
    const nc = this.nc;
    if (!nc) return;
    const sub = nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) {
          this.log.warn({ subject, err: err.message }, "command subscription error");
          return;
        }
        this.messages$.next({
          source: "live",
          subject: msg.subject,
          data: msg.data,
          headers: msg.headers,
          receivedAt: this.clock.now(),
        });
      },
    });
    this.subs.set(subject, sub);
  }

  private dropAll(): void {
    for (const sub of this.subs.values()) sub.unsubscribe();
    this.subs.clear();
  }
}
