import type { BehaviorSubject } from "rxjs";
import type { DataDirLayout } from "./fs/dataDir.js";
import type { Logger } from "./logging/logger.js";
import type { NatsLink } from "./nats/link.js";
import type { StalenessTracker } from "./nats/staleness.js";
import type { Clock, Random } from "./time/clock.js";
import type { EffectiveConfig } from "./wire/types.js";

/**
 * What every long-lived subsystem of the daemon is given. Built once in `src/daemon.ts`; the
 * wiring files in `src/wiring/` turn it into the actors a statechart is provided with.
 */
export interface AgentContext {
  pcId: string;
  /** false when the pc_id cannot be a KV key (behavior.md 1.6): no groups, no pcs.<pc_id> scope. */
  pcIdKvSafe: boolean;
  agentVersion: string;
  platform: NodeJS.Platform;
  layout: DataDirLayout;
  log: Logger;
  clock: Clock;
  random: Random;
  /** The broker connection as it comes and goes; `link.woken$` fires on every (re)connect. */
  link: NatsLink;
  staleness: StalenessTracker;
  /** The resolved agent_config (behavior.md §11); built-in defaults until the first sync. */
  config$: BehaviorSubject<EffectiveConfig>;
  /** This PC's group membership, sorted, from agent_groups (behavior.md §10); [] until known. */
  membership$: BehaviorSubject<readonly string[]>;
  /** Versions the boot sentinel rolled back (behavior.md 15.11), for the heartbeat. */
  quarantinedVersions: () => readonly string[];
  /** Told after each heartbeat publish: a fresh release confirms its health (behavior 15.10). */
  heartbeatSent?: () => void;
}
