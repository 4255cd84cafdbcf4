import type { Identity } from "./auth.js";
import type { RelayStore } from "./store.js";

/**
 * What a host token may do: act as its own orchestrator and nothing else.
 * It registers, heartbeats, reports, polls and acknowledges only as itself;
 * it creates, replaces and deletes only agent records it created; it sends
 * no control to another orchestrator; and, unless `readAll`, it reads only
 * its own host and records. The admin (the relay's token) may do anything.
 */
export class HostPolicy {
  constructor(
    private readonly store: RelayStore,
    private readonly readAll = false,
  ) {}

  /** Why the request is refused; undefined when it is allowed. */
  refuse(who: Identity, method: string, path: string, url: URL, body: unknown): string | undefined {
    if (who.kind === "admin") return undefined;
    const self = `orchestrator-${who.id}`;
    const other = `this token acts only for orchestrator ${who.id}`;
    let m: RegExpMatchArray | null;
    if (path === "/api/orchestrators" && method === "POST") return (body as { id?: unknown })?.id === who.id ? undefined : other;
    if ((m = path.match(/^\/api\/orchestrators\/([^/]+)(\/heartbeat|\/agents|\/offline)?$/))) {
      if (!m[2] && method === "GET" && this.readAll) return undefined;
      if (!m[2] && method === "DELETE") return "only the relay's own token may remove hosts";
      return decodeURIComponent(m[1]!) === who.id ? undefined : other;
    }
    if (path === "/api/messages" && method === "GET") return url.searchParams.get("for") === self ? undefined : other;
    if (path === "/api/messages" && method === "POST") {
      const to = (body as { to?: unknown })?.to;
      return typeof to === "string" && to.startsWith("orchestrator-") && to !== self ? other : undefined;
    }
    if ((m = path.match(/^\/api\/messages\/(\d+)(\/result)?$/))) {
      const message = this.store.message(Number(m[1]));
      if (message && message.to !== self) return other;
      if (method === "PATCH" && (body as { readBy?: unknown })?.readBy !== self) return other;
      return undefined;
    }
    const record = path === "/api/agents" && method === "POST" ? (body as { id?: unknown })?.id : path.match(/^\/api\/agents\/(.+)$/)?.[1];
    if (typeof record === "string" && (method === "POST" || method === "DELETE")) {
      const owner = this.store.agentOwner(method === "DELETE" ? decodeURIComponent(record) : record);
      return owner !== undefined && owner !== who.id ? `this token may only change agent records that orchestrator ${who.id} created` : undefined;
    }
    return undefined;
  }

  /** The part of a listing a host token may see: its own host, or its own agent records. */
  visibleHosts<T extends { id: string }>(who: Identity, hosts: T[]): T[] {
    return who.kind === "admin" || this.readAll ? hosts : hosts.filter((h) => h.id === who.id);
  }

  /** The agent records `who` may list. */
  visibleAgents(who: Identity): Array<Record<string, unknown>> {
    return this.store.agents(who.kind === "admin" || this.readAll ? undefined : who.id);
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
