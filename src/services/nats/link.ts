import type { NatsConnection } from "@nats-io/nats-core";
import { BehaviorSubject, filter, firstValueFrom, map, Subject, timeout } from "rxjs";

/**
 * The one shared view of "the" broker connection for every service: the current connection (or
 * null), and a wake-up signal on every (re)connect so that sleeping retry loops try at once
 * (behavior.md 3.4). The connection machine is its only writer.
 */
export class NatsLink {
  private readonly conn$ = new BehaviorSubject<NatsConnection | null>(null);
  private readonly up$ = new BehaviorSubject<boolean>(false);
  private readonly wakeups$ = new Subject<void>();

  /** Emits on every connect and reconnect. */
  readonly woken$ = this.wakeups$.asObservable();
  /** true while the client holds an open connection. */
  readonly connected$ = this.up$.asObservable();

  get connection(): NatsConnection | null {
    return this.conn$.value;
  }

  get isConnected(): boolean {
    return this.up$.value;
  }

  attach(nc: NatsConnection): void {
    this.conn$.next(nc);
    this.setUp(true);
  }

  setUp(up: boolean): void {
    this.up$.next(up);
    if (up) this.wakeups$.next();
  }

  detach(): void {
    this.up$.next(false);
    this.conn$.next(null);
  }

  /** The current connection once connected; null if none came within `ms`. */
  async waitConnected(ms: number): Promise<NatsConnection | null> {
    if (this.up$.value && this.conn$.value) return this.conn$.value;
    try {
      await firstValueFrom(
        this.up$.pipe(
          filter((up) => up),
          timeout(ms),
          map(() => undefined),
        ),
      );
    } catch {
      return null;
    }
    return this.conn$.value;
  }
}
