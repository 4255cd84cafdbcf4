import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";

/**
 * Who a request speaks for: the admin (the relay's token, or anyone on an
 * open relay), one orchestrator (its host token), or a viewer (the viewer
 * token: reads, never acts).
 */
export type Identity = { kind: "admin" } | { kind: "host"; id: string } | { kind: "viewer" };

/**
 * Tokens: the relay's own (admin: the CLI, trusted tools), optionally one
 * per orchestrator id (a host token can only act as its orchestrator), and
 * optionally a viewer token (the dashboard, read-only). Comparison is in
 * constant time (both sides hashed first).
 */
export class RelayAuth {
  private readonly admin?: Buffer;
  private readonly viewer?: Buffer;
  private readonly hosts: Array<{ id: string; digest: Buffer }>;

  constructor(token: string | undefined, hostTokens: Record<string, string> = {}, viewerToken?: string) {
    if (token) this.admin = digest(token);
    if (viewerToken) this.viewer = digest(viewerToken);
    this.hosts = Object.entries(hostTokens).map(([id, t]) => ({ id, digest: digest(t) }));
  }

  get open(): boolean {
    return !this.admin && this.hosts.length === 0;
  }

  /** Who the request's `X-Agent-Relay-Token` names; undefined when none or a wrong one. */
  identify(req: IncomingMessage): Identity | undefined {
    if (this.open) return { kind: "admin" };
    const given = req.headers["x-agent-relay-token"];
    return typeof given === "string" ? this.token(given) : undefined;
  }

  /** Who `token` names (a header's, or one given to `POST /login`). */
  token(given: string): Identity | undefined {
    if (given === "") return undefined;
    const d = digest(given);
    if (this.admin && timingSafeEqual(d, this.admin)) return { kind: "admin" };
    if (this.viewer && timingSafeEqual(d, this.viewer)) return { kind: "viewer" };
    let found: string | undefined;
    for (const host of this.hosts) if (timingSafeEqual(d, host.digest)) found = host.id; // no early exit
    return found ? { kind: "host", id: found } : undefined;
  }
}

/** A browser's login: its role and when it ends. */
interface Session {
  role: "admin" | "viewer";
  expires: number;
}

/**
 * Browser sessions: `POST /login` with a token opens one, named by a random
 * id the browser keeps in an HttpOnly cookie (the token itself is never in a
 * cookie). Kept in memory: a restarted relay asks for a new login.
 */
export class Sessions {
  private readonly sessions = new Map<string, Session>();

  constructor(readonly ttlMs = 12 * 3600_000) {}

  open(role: Session["role"], now = Date.now()): string {
    this.sweep(now);
    const id = randomBytes(32).toString("base64url");
    this.sessions.set(id, { role, expires: now + this.ttlMs });
    return id;
  }

  /** The identity of a live session, by id; undefined when unknown or expired. */
  identify(id: string | undefined, now = Date.now()): Identity | undefined {
    const session = id ? this.sessions.get(id) : undefined;
    if (!session || session.expires <= now) return undefined;
    return { kind: session.role };
  }

  close(id: string | undefined): void {
    if (id) this.sessions.delete(id);
  }

  private sweep(now: number): void {
    for (const [id, s] of this.sessions) if (s.expires <= now) this.sessions.delete(id);
  }
}

/** Requests a client may make per second (refilled continuously) and at once. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
  ) {}

  /** Takes one request from the client's bucket; false when it is empty. */
  take(client: string, now = Date.now()): boolean {
    const bucket = this.buckets.get(client) ?? { tokens: this.burst, at: now };
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.perSecond);
    bucket.at = now;
    this.buckets.set(client, bucket);
    if (this.buckets.size > 10_000) this.buckets.delete(this.buckets.keys().next().value!);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}
