import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { SESSION_COOKIE } from "./access.js";
import type { RelayAuth, Sessions } from "./auth.js";
import type { RelayCore } from "./routes.js";

/** No inline script or style, nothing from elsewhere, never in a frame. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

const SECURITY_HEADERS = {
  "Content-Security-Policy": CONTENT_SECURITY_POLICY,
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
  "Cache-Control": "no-store",
};

/** The bundled front end (dashboard/ built by esbuild into dist/dashboard/): name → content type. */
const ASSETS: Record<string, string> = { "index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8" };

/** How often the hosts' liveness is looked at while a dashboard is open (a host that falls silent changes nothing itself). */
const LIVENESS_CHECK_MS = 5_000;

export interface DashboardContext {
  relay: RelayCore;
  auth: RelayAuth;
  sessions: Sessions;
}

/**
 * The dashboard on the relay's own port: its page and assets (public: they
 * hold no data), `POST /login` (a token in, an HttpOnly session cookie out;
 * a host token opens no session), `POST /logout`, `GET /api/session` (who
 * the browser is) and `GET /events`, a server-sent stream of snapshots of
 * the hosts and their agents, and of control answers, as they change.
 * Actions go through `POST /api/messages` (an admin session), like any
 * other control. Every answer carries a strict Content-Security-Policy.
 */
export function dashboardRoutes(app: FastifyInstance, ctx: DashboardContext): void {
  app.addHook("onSend", async (_request, reply) => {
    reply.headers(SECURITY_HEADERS);
  });
  const root = assetsDir();
  for (const [name, type] of Object.entries(ASSETS)) {
    app.get(name === "index.html" ? "/" : `/${name}`, { config: { auth: "public" } }, async (_req, reply) => {
      const file = join(root, name);
      if (!existsSync(file)) return reply.code(404).send({ error: "the dashboard is not built (npm run build)" });
      return reply.type(type).send(readFileSync(file));
    });
  }

  app.post("/login", { config: { auth: "public" } }, async (req, reply) => {
    const token = (req.body as { token?: unknown } | undefined)?.token;
    const who = typeof token === "string" ? ctx.auth.token(token) : undefined;
    if (!who || who.kind === "host") return reply.code(401).send({ error: "wrong token: log in with the relay's token or its viewer token" });
    const id = ctx.sessions.open(who.kind);
    const maxAge = Math.floor(ctx.sessions.ttlMs / 1000);
    reply.header("Set-Cookie", `${SESSION_COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAge}`);
    return { role: who.kind };
  });

  app.post("/logout", { config: { auth: "viewer" } }, async (req, reply) => {
    ctx.sessions.close(req.session);
    reply.header("Set-Cookie", `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`);
    return { ok: true };
  });

  app.get("/api/session", { config: { auth: "viewer" } }, async (req) => ({ role: req.who!.kind }));

  app.get("/events", { config: { auth: "viewer" } }, (req, reply) => events(ctx.relay, req, reply));
}

/** `GET /events`: a snapshot at once and at every change (at most one per 100 ms), and each control answer. */
function events(relay: RelayCore, req: FastifyRequest, reply: FastifyReply): void {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { ...SECURITY_HEADERS, "Content-Type": "text/event-stream; charset=utf-8", Connection: "keep-alive" });
  let last = "";
  let timer: NodeJS.Timeout | undefined;
  const snapshot = () => {
    timer = undefined;
    const now = Date.now();
    const hosts = relay.policy.visibleHosts(req.who!, relay.store.hosts()).map((h) => relay.liveness.describe(h, now));
    const data = JSON.stringify({ role: req.who!.kind, hosts });
    if (data !== last) res.write(`event: snapshot\ndata: ${data}\n\n`);
    last = data;
  };
  const onChange = (what: unknown) => {
    if (typeof what === "object" && what !== null && "result" in what) {
      const id = (what as { result: number }).result;
      res.write(`event: result\ndata: ${JSON.stringify({ id, result: relay.store.result(id) })}\n\n`);
      return;
    }
    timer ??= setTimeout(snapshot, 100);
  };
  const liveness = setInterval(snapshot, LIVENESS_CHECK_MS);
  const end = () => {
    clearTimeout(timer);
    clearInterval(liveness);
    relay.changes.off("change", onChange);
    relay.changes.off("close", close);
  };
  const close = () => {
    end();
    res.end();
  };
  relay.changes.on("change", onChange);
  relay.changes.once("close", close);
  res.on("close", end);
  snapshot();
}

/** `dist/dashboard` of this package, whether this file runs from `dist/` or (in tests) from source. */
function assetsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, "dist", "dashboard");
}
