import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";

/** Who a request speaks for: the admin (the relay's token, or anyone on an open relay) or one orchestrator. */
export type Identity = { kind: "admin" } | { kind: "host"; id: string };

/**
 * Tokens: the relay's own (admin: the CLI, trusted tools) and, optionally,
 * one per orchestrator id. A host token can only act as its orchestrator.
 * Comparison is in constant time (both sides hashed first).
 */
export class RelayAuth {
  private readonly admin?: Buffer;
  private readonly hosts: Array<{ id: string; digest: Buffer }>;

  constructor(token: string | undefined, hostTokens: Record<string, string> = {}) {
    if (token) this.admin = digest(token);
    this.hosts = Object.entries(hostTokens).map(([id, t]) => ({ id, digest: digest(t) }));
  }

  get open(): boolean {
    return !this.admin && this.hosts.length === 0;
  }

  identify(req: IncomingMessage): Identity | undefined {
    if (this.open) return { kind: "admin" };
    const given = req.headers["x-agent-relay-token"];
    if (typeof given !== "string" || given === "") return undefined;
    const d = digest(given);
    if (this.admin && timingSafeEqual(d, this.admin)) return { kind: "admin" };
    let found: string | undefined;
    for (const host of this.hosts) if (timingSafeEqual(d, host.digest)) found = host.id; // no early exit
    return found ? { kind: "host", id: found } : undefined;
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
