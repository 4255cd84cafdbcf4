import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { z } from "zod";
import { Secrets, type Logger } from "../../core/index.js";
import { RateLimiter, RelayAuth } from "./auth.js";
import { browserRefusal } from "./guard.js";
import { HostLiveness } from "./hosts.js";
import { HostPolicy } from "./policy.js";
import { agentSchema, messageSchema, registrationSchema, reportSchema, SAFE_ID } from "./schemas.js";
import { RelayStore, type MessageRow } from "./store.js";
import { MIN_TOKEN_LENGTH, secureDataDir } from "./token.js";

/** Extensions this relay offers beyond protocol v2, announced in the registration answer. */
export const RELAY_EXTENSIONS = ["long-poll", "control-results", "host-offline"] as const;

export interface RelayServerOptions {
  dataDir: string;
  port?: number;
  bind?: string;
  token?: string;
  /** A host that announces no heartbeat interval (0.9.0) is offline when it has not been heard from for this long. */
  offlineAfterMs?: number;
  /** Forget hosts that have been offline for longer than this (kept when absent). */
  forgetOfflineHostsAfterMs?: number;
  maxBodyBytes?: number;
  /** Tokens that each let one orchestrator act only as itself. */
  hostTokens?: Record<string, string>;
  /** Let host tokens list every host and agent record (by default each sees only its own). */
  hostTokensReadAll?: boolean;
  /** `Host` values accepted besides loopback names and the bound address: `name` or `name:port`. */
  allowedHosts?: string[];
  /** Requests per second per client (token identity, else address), and the burst allowed. */
  rateLimit?: { perSecond: number; burst: number };
  logger?: Logger;
}

const MAX_WAIT_MS = 30_000;
/** One `GET /messages` answer holds at most this many messages, and this many bytes (but always one message). */
const MAX_MESSAGES = 500;
const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

/**
 * An Agent Relay server: every call of PROTOCOL.md, so an unmodified 0.9.0
 * daemon works against it, plus sending messages, listing hosts, agent
 * self-registration, long-poll (`wait=` on `GET /messages`) and control
 * results (`/messages/:id/result`). State lives in SQLite under `dataDir`.
 */
export class RelayServer {
  readonly store: RelayStore;
  private server?: Server;
  private readonly messageWaiters = new Map<string, Set<() => void>>();
  private readonly resultWaiters = new Map<number, Set<() => void>>();
  private readonly auth: RelayAuth;
  private readonly tokens: Secrets;
  private readonly limiter: RateLimiter;
  /** Requests without a valid token have a small budget of their own: a flood of them starves no one else. */
  private readonly unauthLimiter: RateLimiter;
  private readonly policy: HostPolicy;
  private readonly liveness: HostLiveness;
  private port = 0;
  url = "";

  constructor(private readonly options: RelayServerOptions) {
    const bind = options.bind ?? "127.0.0.1";
    if (!isLoopback(bind) && !options.token) {
      throw new Error(`refusing to listen on ${bind} without a token: set AGENT_RELAY_TOKEN (or bind 127.0.0.1)`);
    }
    if (options.token !== undefined && options.token.length < MIN_TOKEN_LENGTH) {
      throw new Error(`refusing a relay token shorter than ${MIN_TOKEN_LENGTH} characters`);
    }
    this.auth = new RelayAuth(options.token, options.hostTokens);
    // Whoever echoes a token (an old daemon, an agent's output in a report), the relay's tables never keep it.
    this.tokens = new Secrets([options.token, ...Object.values(options.hostTokens ?? {})]);
    const rate = options.rateLimit ?? { perSecond: 1_000, burst: 2_000 };
    this.limiter = new RateLimiter(rate.perSecond, rate.burst);
    this.unauthLimiter = new RateLimiter(Math.min(rate.perSecond, 5), Math.min(rate.burst, 20));
    secureDataDir(options.dataDir, (text) => options.logger?.warn(text));
    this.store = new RelayStore(options.dataDir);
    this.policy = new HostPolicy(this.store, options.hostTokensReadAll);
    this.liveness = new HostLiveness(this.store, options);
  }

  async listen(): Promise<string> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.options.logger?.warn(`relay: ${req.method} ${req.url}: ${(err as Error).message}`);
        if (!res.headersSent) send(res, 500, { error: "internal error" });
      });
    });
    this.server = server;
    const bind = this.options.bind ?? "127.0.0.1";
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.options.port ?? 4850, bind, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    this.port = port;
    this.url = `http://${bind.includes(":") ? `[${bind}]` : bind}:${port}`;
    return this.url;
  }

  async close(): Promise<void> {
    for (const waiters of [...this.messageWaiters.values(), ...this.resultWaiters.values()]) for (const wake of waiters) wake();
    if (this.server) {
      this.server.closeAllConnections();
      await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    }
    this.store.close();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://relay");
    const method = req.method ?? "GET";
    const path = url.pathname.replace(/\/+$/, "");
    if (!path.startsWith("/api/")) return send(res, 404, { error: "not found" });
    const browser = browserRefusal(req, { port: this.port, bind: this.options.bind ?? "127.0.0.1", allowedHosts: this.options.allowedHosts ?? [] });
    if (browser) return send(res, browser.status, { error: browser.error });
    const who = this.auth.identify(req);
    const address = req.socket.remoteAddress;
    const allowed = !who
      ? this.unauthLimiter.take(`unauth:${address}`)
      : this.limiter.take(who.kind === "host" ? `host:${who.id}` : `addr:${address}`);
    if (!allowed) {
      res.setHeader("Retry-After", "1");
      return send(res, 429, { error: "too many requests" });
    }
    if (!who) return send(res, 401, { error: "missing or wrong X-Agent-Relay-Token" });
    const body = method === "GET" || method === "DELETE" ? undefined : await this.readJson(req, res);
    if (body === INVALID) return;
    const refusal = this.policy.refuse(who, method, path, url, body);
    if (refusal) return send(res, 403, { error: refusal });
    const now = Date.now();
    const store = this.store;
    let m: RegExpMatchArray | null;

    if (path === "/api/health" && method === "GET") return send(res, 200, { ok: true, protocolVersion: 2, extensions: RELAY_EXTENSIONS });
    if (path === "/api/orchestrators" && method === "POST") {
      const reg = registrationSchema.safeParse(body);
      if (!reg.success) return invalid(res, reg.error);
      const conflict = this.secondInstance(reg.data, now);
      if (conflict) return send(res, 409, { error: conflict });
      store.registerHost(reg.data.id, this.tokens.redactDeep(this.policy.registration(who, reg.data)), now);
      return send(res, 200, { ok: true, id: reg.data.id, extensions: RELAY_EXTENSIONS, epoch: store.epoch });
    }
    if (path === "/api/orchestrators" && method === "GET") {
      this.liveness.prune(now);
      return send(res, 200, this.policy.visibleHosts(who, store.hosts()).map((h) => this.liveness.describe(h, now)));
    }
    if ((m = path.match(/^\/api\/orchestrators\/([^/]+)$/)) && method === "GET") {
      this.liveness.prune(now);
      const host = store.host(decodeURIComponent(m[1]!));
      return host ? send(res, 200, this.liveness.describe(host, now)) : send(res, 404, { error: "unknown orchestrator" });
    }
    if ((m = path.match(/^\/api\/orchestrators\/([^/]+)$/)) && method === "DELETE") return this.removeHost(decodeURIComponent(m[1]!), url, res, now);
    if ((m = path.match(/^\/api\/orchestrators\/([^/]+)\/offline$/)) && method === "POST") return this.hostOffline(decodeURIComponent(m[1]!), body, res, now);
    if ((m = path.match(/^\/api\/orchestrators\/([^/]+)\/heartbeat$/)) && method === "POST") {
      const id = decodeURIComponent(m[1]!);
      const [host, meta] = [store.host(id), (body as { meta?: unknown } | undefined)?.meta];
      if (host && typeof meta === "object" && meta !== null && !Array.isArray(meta)) {
        // The daemon's onHeartbeat fields join its registration's meta; who it is (instance, pid) stays as registered.
        const { instanceId, previousInstanceId, pid } = (host.registration.meta ?? {}) as Record<string, unknown>;
        const merged = { ...(host.registration.meta as object), ...meta, instanceId, previousInstanceId, pid };
        store.registerHost(id, this.tokens.redactDeep({ ...host.registration, meta: merged }), host.registeredAt);
      }
      return store.heartbeat(id, now) ? send(res, 200, { ok: true }) : send(res, 404, { error: "unknown orchestrator" });
    }
    if ((m = path.match(/^\/api\/orchestrators\/([^/]+)\/agents$/)) && method === "PATCH") {
      const report = reportSchema.safeParse(body);
      if (!report.success) return invalid(res, report.error);
      return store.setHostAgents(decodeURIComponent(m[1]!), this.tokens.redactDeep(report.data.agents), now) ? send(res, 200, { ok: true }) : send(res, 404, { error: "unknown orchestrator" });
    }
    if (path === "/api/messages/cursor" && method === "GET") return send(res, 200, { latestId: store.latestMessageId() });
    if (path === "/api/messages" && method === "GET") return this.listMessages(url, res, now);
    if (path === "/api/messages" && method === "POST") {
      const parsed = messageSchema.safeParse(body);
      if (!parsed.success) return invalid(res, parsed.error);
      const message = store.insertMessage({ ...parsed.data, createdAt: now });
      wakeAll(this.messageWaiters, message.to);
      return send(res, 201, message);
    }
    if ((m = path.match(/^\/api\/messages\/(\d+)$/)) && method === "PATCH") {
      const id = Number(m[1]);
      const readBy = (body as { readBy?: unknown })?.readBy;
      if (typeof readBy !== "string" || !SAFE_ID.test(readBy)) return send(res, 400, { error: "readBy: expected an agent name" });
      if (!store.message(id)) return send(res, 404, { error: "no such message" });
      store.markRead(id, readBy, now);
      return send(res, 200, { ok: true });
    }
    if ((m = path.match(/^\/api\/messages\/(\d+)\/result$/))) {
      const id = Number(m[1]);
      if (!store.message(id)) return send(res, 404, { error: "no such message" });
      if (method === "POST") {
        if (typeof body !== "object" || body === null || typeof (body as { ok?: unknown }).ok !== "boolean") {
          return send(res, 400, { error: "result: expected an object with a boolean ok" });
        }
        store.setResult(id, this.tokens.redactDeep(body), now);
        wakeAll(this.resultWaiters, id);
        return send(res, 200, { ok: true });
      }
      if (method === "GET") {
        const wait = waitMs(url);
        let result = store.result(id);
        if (result === undefined && wait > 0) {
          await this.waitFor(this.resultWaiters, id, wait, req);
          result = store.result(id);
        }
        // `delivered`: the addressee has been handed the message (or read it); until then it is queued at the relay.
        if (result === undefined) return send(res, 202, { pending: true, delivered: store.delivered(id) });
        return send(res, 200, result);
      }
    }
    if (path === "/api/agents" && method === "GET") return send(res, 200, this.policy.visibleAgents(who));
    if (path === "/api/agents" && method === "POST") {
      const parsed = agentSchema.safeParse(body);
      if (!parsed.success) return invalid(res, parsed.error);
      const id = parsed.data.id ?? `agent-${now.toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
      const record = { ...parsed.data, id };
      store.upsertAgent(id, this.tokens.redactDeep(record), now, this.policy.owner(who));
      return send(res, 201, record);
    }
    if ((m = path.match(/^\/api\/agents\/(.+)$/)) && method === "DELETE") {
      return store.deleteAgent(decodeURIComponent(m[1]!)) ? send(res, 200, { ok: true }) : send(res, 404, { error: "no such agent" });
    }
    return send(res, 404, { error: `no route ${method} ${path}` });
  }

  private async listMessages(url: URL, res: ServerResponse, now: number): Promise<void> {
    const to = url.searchParams.get("for") ?? "";
    if (!SAFE_ID.test(to)) return send(res, 400, { error: "for: expected an agent name" });
    const sinceId = Number(url.searchParams.get("sinceId") ?? 0) || 0;
    const unread = url.searchParams.get("unread") === "true";
    // `limit` (an extension): a client that could not take a long answer asks for fewer.
    const asked = Math.floor(Number(url.searchParams.get("limit") ?? MAX_MESSAGES));
    const limit = asked >= 1 ? Math.min(asked, MAX_MESSAGES) : MAX_MESSAGES;
    if (to.startsWith("orchestrator-")) this.store.touchHost(to.slice("orchestrator-".length), now);
    let messages = this.store.messagesFor(to, sinceId, unread, limit);
    const wait = waitMs(url);
    if (messages.length === 0 && wait > 0) {
      await this.waitFor(this.messageWaiters, to, wait, res.req);
      messages = this.store.messagesFor(to, sinceId, unread, limit);
    }
    res.setHeader("X-Relay-Epoch", this.store.epoch); // the daemon resets its journal when this changes
    const answer = withinBytes(messages.map(wire), MAX_ANSWER_BYTES);
    if (!res.req.destroyed) this.store.markDelivered(answer.map((m) => m.id), Date.now());
    return send(res, 200, answer);
  }

  private waitFor<K>(waiters: Map<K, Set<() => void>>, key: K, ms: number, req: IncomingMessage): Promise<void> {
    return new Promise((resolve) => {
      const set = waiters.get(key) ?? new Set();
      waiters.set(key, set);
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0 && waiters.get(key) === set) waiters.delete(key);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
      req.once("close", done);
    });
  }

  /**
   * Why a registration is refused: another instance of the daemon (another
   * `meta.instanceId`) registered with this id and was heard from within the
   * offline window. A restarted daemon takes over when it names that instance
   * as the one before it (`meta.previousInstanceId`, from its lock), or once
   * the old one has been silent for the window. Undefined when accepted.
   */
  private secondInstance(registration: { id: string; meta?: unknown }, now: number): string | undefined {
    const field = (meta: unknown, key: string) => (typeof meta === "object" && meta !== null ? (meta as Record<string, unknown>)[key] : undefined);
    const incoming = field(registration.meta, "instanceId");
    const host = this.store.host(registration.id);
    const current = field(host?.registration.meta, "instanceId");
    if (!host || typeof incoming !== "string" || typeof current !== "string" || incoming === current) return undefined;
    if (field(registration.meta, "previousInstanceId") === current) return undefined;
    if (!this.liveness.online(host, now)) return undefined;
    const pid = field(host.registration.meta, "pid");
    const where = `${String(host.registration.hostname ?? "another host")}${typeof pid === "number" ? ` pid ${pid}` : ""}`;
    return `orchestrator ${registration.id} is already running (${where}, last seen ${Math.round((now - host.lastSeen) / 1000)} s ago): one daemon per id`;
  }

  /**
   * `DELETE /api/orchestrators/:id` (an extension, the admin's): forgets a
   * stale host. An online one only with `?force=true` (it registers again at
   * its next heartbeat unless its daemon is stopped).
   */
  private removeHost(id: string, url: URL, res: ServerResponse, now: number): void {
    const host = this.store.host(id);
    if (!host) return send(res, 404, { error: "unknown orchestrator" });
    if (this.liveness.online(host, now) && url.searchParams.get("force") !== "true") {
      const ago = Math.round((now - host.lastSeen) / 1000);
      return send(res, 409, { error: `orchestrator ${id} is online (last seen ${ago} s ago): stop its daemon first, or force it` });
    }
    this.store.deleteHost(id);
    return send(res, 200, { ok: true });
  }

  /**
   * `POST /api/orchestrators/:id/offline` (the `host-offline` extension): a
   * daemon that stops cleanly says so, and shows offline at once. Body
   * `{ instanceId }`: ignored (409) when another instance has registered since.
   */
  private hostOffline(id: string, body: unknown, res: ServerResponse, now: number): void {
    const host = this.store.host(id);
    if (!host) return send(res, 404, { error: "unknown orchestrator" });
    const claimed = (body as { instanceId?: unknown } | undefined)?.instanceId;
    const current = (host.registration.meta as Record<string, unknown> | undefined)?.instanceId;
    if (typeof claimed === "string" && typeof current === "string" && claimed !== current) {
      return send(res, 409, { error: `another instance of orchestrator ${id} has registered since` });
    }
    this.store.hostOffline(id, now);
    return send(res, 200, { ok: true });
  }

  private async readJson(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
    const limit = this.options.maxBodyBytes ?? 1024 * 1024;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > limit) {
        send(res, 413, { error: `request body over ${limit} bytes` });
        req.destroy();
        return INVALID;
      }
      chunks.push(chunk as Buffer);
    }
    if (size === 0) return undefined;
    try {
      return JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      send(res, 400, { error: "body is not valid JSON" });
      return INVALID;
    }
  }
}

const INVALID = Symbol("invalid body");

function wire(message: MessageRow) {
  return { id: message.id, from: message.from, to: message.to, kind: message.kind, body: message.body, createdAt: message.createdAt, payload: message.payload, meta: message.meta };
}

/** The first messages whose JSON fits in `max` bytes; always at least one (a message alone is bounded by the body limit). */
function withinBytes<T>(messages: T[], max: number): T[] {
  let bytes = 2;
  for (let i = 0; i < messages.length; i++) {
    bytes += Buffer.byteLength(JSON.stringify(messages[i])) + 1;
    if (bytes > max && i > 0) return messages.slice(0, i);
  }
  return messages;
}

function wakeAll<K>(waiters: Map<K, Set<() => void>>, key: K): void {
  for (const wake of [...(waiters.get(key) ?? [])]) wake();
}

function waitMs(url: URL): number {
  const wait = Number(url.searchParams.get("wait") ?? 0);
  return Number.isFinite(wait) && wait > 0 ? Math.min(wait, MAX_WAIT_MS) : 0;
}

export function isLoopback(address: string): boolean {
  return address === "localhost" || address === "::1" || /^127\.\d+\.\d+\.\d+$/.test(address);
}

function invalid(res: ServerResponse, error: z.ZodError): void {
  const issue = error.issues[0]!;
  send(res, 400, { error: `${issue.path.join(".") || "body"}: ${issue.message}` });
}

function send(res: ServerResponse, status: number, data: unknown): void {
  const body = JSON.stringify(data);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}
