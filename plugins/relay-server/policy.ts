import type { Identity } from "./auth.js";
import type { RelayStore } from "./store.js";

/**
 * What a host token may do: act as its own orchestrator and nothing else.
 * It registers, heartbeats, reports, polls and acknowledges only as itself;
 * it creates, replaces and deletes only agent records it created; it sends
 * no control to another orchestrator; and, unless `readAll`, it reads only
 * its own host and records. Each rule below is named by the route it guards
 * (routes.ts) and asked only for a host token: the admin may do anything.
 * A rule answers why the request is refused, or undefined.
 */
export class HostPolicy {
  constructor(
    private readonly store: RelayStore,
    readonly readAll = false,
  ) {}

  /** The orchestrator `id` is the token's own. */
  self(who: HostIdentity, id: unknown): string | undefined {
    return id === who.id ? undefined : other(who);
  }

  /** A host's record: its own, or any when `readAll`. */
  readHost(who: HostIdentity, id: string): string | undefined {
    return this.readAll ? undefined : this.self(who, id);
  }

  /** Messages are polled only for the token's own orchestrator. */
  poll(who: HostIdentity, to: string | null): string | undefined {
    return to === `orchestrator-${who.id}` ? undefined : other(who);
  }

  /** A message goes to agents, or to the token's own orchestrator, never to another one. */
  send(who: HostIdentity, to: unknown): string | undefined {
    return typeof to === "string" && to.startsWith("orchestrator-") && to !== `orchestrator-${who.id}` ? other(who) : undefined;
  }

  /** A message (its read mark, its result) is the token's own orchestrator's; `readBy`, when given, is that orchestrator. */
  message(who: HostIdentity, id: number, readBy?: unknown): string | undefined {
    const self = `orchestrator-${who.id}`;
    const message = this.store.message(id);
    if (message && message.to !== self) return other(who);
    if (readBy !== undefined && readBy !== self) return other(who);
    return undefined;
  }

  /** An agent record is changed only by the host that created it (a new one by anyone). */
  record(who: HostIdentity, id: unknown): string | undefined {
    if (typeof id !== "string") return undefined;
    const owner = this.store.agentOwner(id);
    return owner !== undefined && owner !== who.id ? `this token may only change agent records that orchestrator ${who.id} created` : undefined;
  }

  /** The part of a listing a host token may see: its own host, or its own agent records. */
  visibleHosts<T extends { id: string }>(who: Identity, hosts: T[]): T[] {
    return who.kind !== "host" || this.readAll ? hosts : hosts.filter((h) => h.id === who.id);
  }

  /** The agent records `who` may list. */
  visibleAgents(who: Identity): Array<Record<string, unknown>> {
    return this.store.agents(who.kind !== "host" || this.readAll ? undefined : who.id);
  }

  /**
   * A registration as stored: a host token's `hostname` is pinned to its
   * orchestrator id, so it cannot pass for another host (agent tags name
   * hosts by hostname).
   */
  registration(who: Identity, data: Record<string, unknown>): Record<string, unknown> {
    return who.kind === "host" ? { ...data, hostname: who.id } : data;
  }

  /** Who owns an agent record created by `who`: a host, or nobody in particular (the admin). */
  owner(who: Identity): string | null {
    return who.kind === "host" ? who.id : null;
  }
}

export type HostIdentity = Extract<Identity, { kind: "host" }>;

function other(who: HostIdentity): string {
  return `this token acts only for orchestrator ${who.id}`;
}
