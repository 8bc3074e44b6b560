/**
 * A release that must not be retried: bad digest, oversize, invalid package (behavior.md 15.5).
 * The self-updater refuses the target until it changes or the agent restarts. Every other error
 * of a download counts as a transport failure and is retried on the 15.5 schedule.
 */
export class ReleaseRejected extends Error {
  /** Read by the statechart's guard, which knows no service classes. */
  readonly refuse = true;
  constructor(
    readonly version: string,
    readonly reason: string,
  ) {
    super(`release ${version} refused: ${reason}`);
    this.name = "ReleaseRejected";
  }
}
