import { EventEmitter } from "node:events";
import type { AddressInfo } from "node:net";
import Fastify, { type FastifyInstance, type FastifyRequest } from "fastify";
import { Secrets, type Logger } from "../../core/index.js";
import { installAccess } from "./access.js";
import { RateLimiter, RelayAuth, Sessions } from "./auth.js";
import { dashboardRoutes } from "./dashboard.js";
import { HostLiveness } from "./hosts.js";
import { HostPolicy } from "./policy.js";
import { protocolRoutes, type RelayCore } from "./routes.js";
import { RelayStore } from "./store.js";
import { MIN_TOKEN_LENGTH, secureDataDir } from "./token.js";

export { RELAY_EXTENSIONS } from "./routes.js";

export interface RelayServerOptions {
  dataDir: string;
  port?: number;
  bind?: string;
  token?: string;
  /** A token that logs a browser in to the dashboard read-only. */
  viewerToken?: string;
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

type WaitKind = "message" | "result";

/**
 * An Agent Relay server: every call of PROTOCOL.md, so an unmodified 0.9.0
 * daemon works against it, with its extensions (routes.ts), and the
 * dashboard (dashboard.ts) on the same port. HTTP is fastify's; one gate
 * (access.ts) checks every request against its route's rule. State lives in
 * SQLite under `dataDir`. `changes` emits `change` whenever something a
 * dashboard shows changed.
 */
export class RelayServer implements RelayCore {
  readonly store: RelayStore;
  readonly policy: HostPolicy;
  readonly liveness: HostLiveness;
  readonly tokens: Secrets;
  readonly changes = new EventEmitter();
  private readonly app: FastifyInstance;
  private readonly waiters: Record<WaitKind, Map<string | number, Set<() => void>>> = { message: new Map(), result: new Map() };
  private port = 0;
  url = "";

  constructor(private readonly options: RelayServerOptions) {
    const bind = options.bind ?? "127.0.0.1";
    if (!isLoopback(bind) && !options.token) {
      throw new Error(`refusing to listen on ${bind} without a token: set AGENT_RELAY_TOKEN (or bind 127.0.0.1)`);
    }
    for (const [name, token] of [["relay token", options.token], ["viewer token", options.viewerToken]] as const) {
      if (token !== undefined && token.length < MIN_TOKEN_LENGTH) throw new Error(`refusing a ${name} shorter than ${MIN_TOKEN_LENGTH} characters`);
    }
    // Whoever echoes a token (an old daemon, an agent's output in a report), the relay's tables never keep it.
    this.tokens = new Secrets([options.token, options.viewerToken, ...Object.values(options.hostTokens ?? {})]);
    this.changes.setMaxListeners(0);
    secureDataDir(options.dataDir, (text) => options.logger?.warn(text));
    this.store = new RelayStore(options.dataDir);
    this.policy = new HostPolicy(this.store, options.hostTokensReadAll);
    this.liveness = new HostLiveness(this.store, options);
    this.app = this.build();
  }

  private build(): FastifyInstance {
    const limit = this.options.maxBodyBytes ?? 1024 * 1024;
    const app = Fastify({ logger: false, bodyLimit: limit, forceCloseConnections: true, routerOptions: { ignoreTrailingSlash: true } });
    // An empty body is no body (0.9.0 posts heartbeats so); anything else must be JSON.
    app.addContentTypeParser("application/json", { parseAs: "string" }, (_req, text, done) => {
      if (text === "") return done(null, undefined);
      try {
        done(null, JSON.parse(text as string));
      } catch {
        done(Object.assign(new Error("body is not valid JSON"), { statusCode: 400 }), undefined);
      }
    });
    app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, request, reply) => {
      if (err.code === "FST_ERR_CTP_BODY_TOO_LARGE") return reply.code(413).send({ error: `request body over ${limit} bytes` });
      if (err.statusCode && err.statusCode < 500) return reply.code(err.statusCode).send({ error: err.message });
      this.options.logger?.warn(`relay: ${request.method} ${request.url}: ${err.message}`);
      return reply.code(500).send({ error: "internal error" });
    });
    app.setNotFoundHandler((request, reply) => reply.code(404).send({ error: `no route ${request.method} ${request.url.split("?")[0]}` }));
    const auth = new RelayAuth(this.options.token, this.options.hostTokens, this.options.viewerToken);
    const rate = this.options.rateLimit ?? { perSecond: 1_000, burst: 2_000 };
    const sessions = new Sessions();
    installAccess(app, {
      served: () => ({ port: this.port, bind: this.options.bind ?? "127.0.0.1", allowedHosts: this.options.allowedHosts ?? [] }),
      auth,
      sessions,
      limiter: new RateLimiter(rate.perSecond, rate.burst),
      unauthLimiter: new RateLimiter(Math.min(rate.perSecond, 5), Math.min(rate.burst, 20)),
    });
    protocolRoutes(app, this);
    dashboardRoutes(app, { relay: this, auth, sessions });
    return app;
  }

  async listen(): Promise<string> {
    const bind = this.options.bind ?? "127.0.0.1";
    await this.app.listen({ port: this.options.port ?? 4850, host: bind });
    this.port = (this.app.server.address() as AddressInfo).port;
    this.url = `http://${bind.includes(":") ? `[${bind}]` : bind}:${this.port}`;
    return this.url;
  }

  async close(): Promise<void> {
    for (const map of Object.values(this.waiters)) for (const set of map.values()) for (const wake of [...set]) wake();
    this.changes.emit("close");
    await this.app.close();
    this.store.close();
  }

  changed(what: "hosts" | "agents" | "messages" | { result: number }): void {
    this.changes.emit("change", what);
  }

  waitFor(kind: WaitKind, key: string | number, ms: number, request: FastifyRequest): Promise<void> {
    const waiters = this.waiters[kind];
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
      request.raw.once("close", done);
    });
  }

  wake(kind: WaitKind, key: string | number): void {
    for (const wake of [...(this.waiters[kind].get(key) ?? [])]) wake();
  }

  /**
   * Why a registration is refused: another instance of the daemon (another
   * `meta.instanceId`) registered with this id and was heard from within the
   * offline window. A restarted daemon takes over when it names that instance
   * as the one before it (`meta.previousInstanceId`, from its lock), or once
   * the old one has been silent for the window. Undefined when accepted.
   */
  secondInstance(registration: { id: string; meta?: unknown }, now: number): string | undefined {
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
}

export function isLoopback(address: string): boolean {
  return address === "localhost" || address === "::1" || /^127\.\d+\.\d+\.\d+$/.test(address);
}
