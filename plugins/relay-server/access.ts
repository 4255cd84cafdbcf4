import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Identity, RateLimiter, RelayAuth, Sessions } from "./auth.js";
import { browserRefusal, type Served } from "./guard.js";
import type { HostIdentity } from "./policy.js";

/**
 * Who may call a route, declared once with the route (`config.auth`):
 * `public` anyone (the dashboard's page, `POST /login`), `viewer` any token
 * or session (reads), `host` a host token (as itself, see `config.host`), the
 * admin's token or an admin session, and `admin` the admin only.
 */
export type AuthRule = "public" | "viewer" | "host" | "admin";

/** A host token's own rule for a route: why it is refused this request (the body is parsed by then). */
export type HostRule = (request: FastifyRequest, who: HostIdentity) => string | undefined;

declare module "fastify" {
  interface FastifyContextConfig {
    auth?: AuthRule;
    host?: HostRule;
  }
  interface FastifyRequest {
    /** Who the request speaks for (a token, or a session cookie); undefined for nobody. */
    who?: Identity;
    /** The session id when a cookie authorized the request. */
    session?: string;
  }
}

export const SESSION_COOKIE = "relay_session";

export interface AccessOptions {
  served: () => Served;
  auth: RelayAuth;
  sessions: Sessions;
  limiter: RateLimiter;
  /** Requests without a valid token have a small budget of their own: a flood of them starves no one else. */
  unauthLimiter: RateLimiter;
}

const RANK: Record<Identity["kind"], number> = { viewer: 1, host: 2, admin: 3 };
const NEEDS: Record<Exclude<AuthRule, "public">, number> = { viewer: 1, host: 2, admin: 3 };

/**
 * The one gate every request passes, in this order: what a browser can be
 * made to send (Host, Origin, body type: guard.ts), who it is (token header,
 * else session cookie), the rate limit, and the route's rule. A request
 * authorized by a cookie that changes something must carry the relay's own
 * Origin (a cookie rides along with any request a page makes). Host tokens
 * then meet the route's own rule, once the body is parsed.
 */
export function installAccess(app: FastifyInstance, options: AccessOptions): void {
  app.addHook("onRequest", async (request, reply) => {
    const refusal = browserRefusal(request.raw, options.served());
    if (refusal) return deny(reply, refusal.status, refusal.error);
    const header = options.auth.identify(request.raw);
    const session = header ? undefined : sessionId(request.headers.cookie);
    const who = header ?? options.sessions.identify(session);
    if (who && !header) request.session = session;
    request.who = who;
    const address = request.raw.socket.remoteAddress;
    const allowed = !who
      ? options.unauthLimiter.take(`unauth:${address}`)
      : options.limiter.take(who.kind === "host" ? `host:${who.id}` : `addr:${address}`);
    if (!allowed) {
      reply.header("Retry-After", "1");
      return deny(reply, 429, "too many requests");
    }
    const rule = ruleOf(request);
    if (rule === "public") return;
    if (!who) return deny(reply, 401, "missing or wrong X-Agent-Relay-Token (or no dashboard login)");
    if (RANK[who.kind] < NEEDS[rule]) return deny(reply, 403, rule === "admin" ? "only the relay's own token may do this" : "a viewer may only look");
    if (request.session && !["GET", "HEAD"].includes(request.method) && request.headers.origin === undefined) {
      return deny(reply, 403, "a dashboard request that changes something must carry its Origin");
    }
  });
  app.addHook("preHandler", async (request, reply) => {
    const rule = request.routeOptions.config?.host;
    if (rule && request.who?.kind === "host") {
      const refusal = rule(request, request.who);
      if (refusal) return deny(reply, 403, refusal);
    }
  });
}

/** A route's rule; a path no route serves asks for a token under `/api/` (as before), nothing elsewhere. */
function ruleOf(request: FastifyRequest): AuthRule {
  return request.routeOptions.config?.auth ?? (request.url.startsWith("/api/") ? "viewer" : "public");
}

function deny(reply: FastifyReply, status: number, error: string): FastifyReply {
  return reply.code(status).send({ error });
}

/** The session id in a `Cookie` header, if any. */
export function sessionId(cookie: string | undefined): string | undefined {
  for (const part of (cookie ?? "").split(";")) {
    const [name, ...value] = part.trim().split("=");
    if (name === SESSION_COOKIE) return value.join("=");
  }
  return undefined;
}
