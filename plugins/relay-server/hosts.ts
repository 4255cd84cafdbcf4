import type { HostRow, RelayStore } from "./store.js";

/** A host that missed this many of the heartbeats it announced counts as offline. */
export const MISSED_HEARTBEATS = 3;
/** Room for the heartbeat request itself on top of the missed intervals. */
const HEARTBEAT_SLACK_MS = 1_000;
/** For hosts that announce no interval (0.9.0): three of the protocol's default 30 s heartbeats. */
export const DEFAULT_OFFLINE_AFTER_MS = 90_000;

export interface HostLivenessOptions {
  /** Silence after which a host that announces no heartbeat interval counts as offline. */
  offlineAfterMs?: number;
  /** Forget a host once it has been offline this long; kept forever when absent. */
  forgetOfflineHostsAfterMs?: number;
}

/**
 * Whether a host is online, as its clients should see it: offline at once
 * when its daemon said it was stopping, or after it missed about three of
 * the heartbeats it announced (`meta.heartbeatIntervalMs` in its
 * registration; `offlineAfterMs` of silence for a daemon that announces
 * none). Hosts offline for longer than the retention are forgotten.
 */
export class HostLiveness {
  constructor(
    private readonly store: RelayStore,
    private readonly options: HostLivenessOptions,
  ) {}

  /** How long `host` may be silent before it counts as offline. */
  offlineAfter(host: HostRow): number {
    const meta = host.registration.meta as Record<string, unknown> | undefined;
    const interval = meta?.heartbeatIntervalMs;
    if (typeof interval === "number" && Number.isFinite(interval) && interval > 0) return MISSED_HEARTBEATS * interval + HEARTBEAT_SLACK_MS;
    return this.options.offlineAfterMs ?? DEFAULT_OFFLINE_AFTER_MS;
  }

  online(host: HostRow, now: number): boolean {
    return host.offlineSince === undefined && now - host.lastSeen < this.offlineAfter(host);
  }

  /** Since when `host` counts as offline; undefined while it is online. */
  offlineSince(host: HostRow, now: number): number | undefined {
    if (this.online(host, now)) return undefined;
    return host.offlineSince ?? host.lastSeen + this.offlineAfter(host);
  }

  /** Forgets the hosts offline for longer than the retention (when one is configured). */
  prune(now: number): void {
    const keep = this.options.forgetOfflineHostsAfterMs;
    if (keep === undefined) return;
    for (const host of this.store.hosts()) {
      const since = this.offlineSince(host, now);
      if (since !== undefined && now - since > keep) this.store.deleteHost(host.id);
    }
  }

  /** A host as `GET /api/orchestrators` lists it. */
  describe(host: HostRow, now: number) {
    const { id: _id, ...registration } = host.registration;
    const offlineSince = this.offlineSince(host, now);
    return {
      id: host.id,
      ...registration,
      registeredAt: host.registeredAt,
      lastSeen: host.lastSeen,
      lastHeartbeat: host.lastHeartbeat ?? null,
      online: offlineSince === undefined,
      ...(offlineSince !== undefined ? { offlineSince, stoppedCleanly: host.offlineSince !== undefined } : {}),
      agents: host.agents,
    };
  }
}
