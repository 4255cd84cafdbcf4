import type { EventEmitter } from "node:events";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { z } from "zod";
import type { Secrets } from "../../core/index.js";
import type { HostLiveness } from "./hosts.js";
import type { HostPolicy } from "./policy.js";
import { agentSchema, messageSchema, registrationSchema, reportSchema, SAFE_ID } from "./schemas.js";
import type { MessageRow, RelayStore } from "./store.js";

/** Extensions this relay offers beyond protocol v2, announced in the registration answer. */
export const RELAY_EXTENSIONS = ["long-poll", "control-results", "host-offline"] as const;

const MAX_WAIT_MS = 30_000;
/** One `GET /messages` answer holds at most this many messages, and this many bytes (but always one message). */
const MAX_MESSAGES = 500;
const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

/** What the protocol's routes use of the relay. */
export interface RelayCore {
  store: RelayStore;
  policy: HostPolicy;
  liveness: HostLiveness;
  /** Every token the relay knows: none is ever stored. */
  tokens: Secrets;
  /** Emits `change` (what `changed` was told) and `close` (the relay is closing). */
  changes: EventEmitter;
  /** Something a dashboard shows changed (`result`: the answer to control `id`). */
  changed(what: "hosts" | "agents" | "messages" | { result: number }): void;
  /** Resolves when `key` is woken (a message for it, a result) or after `ms`, or when the request goes away. */
  waitFor(kind: "message" | "result", key: string | number, ms: number, request: FastifyRequest): Promise<void>;
  wake(kind: "message" | "result", key: string | number): void;
  /** Why a registration is refused (another instance of the daemon is online); undefined when accepted. */
  secondInstance(registration: { id: string; meta?: unknown }, now: number): string | undefined;
}

type Req = FastifyRequest<{ Params: Record<string, string> }>;

/**
 * Every call of PROTOCOL.md, plus sending messages, listing hosts, agent
 * self-registration, long-poll (`wait=`), control results and host-offline.
 * Each route names who may call it (`auth`) and, for a host token, its rule.
 */
export function protocolRoutes(app: FastifyInstance, relay: RelayCore): void {
  const { store, policy, liveness, tokens } = relay;
  const hostParam = (req: Req) => req.params.id!;

  app.get("/api/health", { config: { auth: "viewer" } }, async () => ({ ok: true, protocolVersion: 2, extensions: RELAY_EXTENSIONS }));

  app.post("/api/orchestrators", { config: { auth: "host", host: (req, who) => policy.self(who, (req.body as { id?: unknown })?.id) } }, async (req, reply) => {
    const reg = registrationSchema.safeParse(req.body);
    if (!reg.success) return invalid(reply, reg.error);
    const now = Date.now();
    const conflict = relay.secondInstance(reg.data, now);
    if (conflict) return reply.code(409).send({ error: conflict });
    store.registerHost(reg.data.id, tokens.redactDeep(policy.registration(req.who!, reg.data)), now);
    relay.changed("hosts");
    return { ok: true, id: reg.data.id, extensions: RELAY_EXTENSIONS, epoch: store.epoch };
  });

  app.get("/api/orchestrators", { config: { auth: "viewer" } }, async (req) => {
    const now = Date.now();
    liveness.prune(now);
    return policy.visibleHosts(req.who!, store.hosts()).map((h) => liveness.describe(h, now));
  });

  app.get("/api/orchestrators/:id", { config: { auth: "viewer", host: (req, who) => policy.readHost(who, hostParam(req as Req)) } }, async (req: Req, reply) => {
    const now = Date.now();
    liveness.prune(now);
    const host = store.host(hostParam(req));
    return host ? liveness.describe(host, now) : reply.code(404).send({ error: "unknown orchestrator" });
  });

  // An extension, the admin's: forgets a stale host; an online one only with `?force=true`.
  app.delete("/api/orchestrators/:id", { config: { auth: "admin" } }, async (req: Req, reply) => {
    const [id, now] = [hostParam(req), Date.now()];
    const host = store.host(id);
    if (!host) return reply.code(404).send({ error: "unknown orchestrator" });
    if (liveness.online(host, now) && query(req).get("force") !== "true") {
      const ago = Math.round((now - host.lastSeen) / 1000);
      return reply.code(409).send({ error: `orchestrator ${id} is online (last seen ${ago} s ago): stop its daemon first, or force it` });
    }
    store.deleteHost(id);
    relay.changed("hosts");
    return { ok: true };
  });

  const ownHost = { auth: "host" as const, host: (req: FastifyRequest, who: Parameters<typeof policy.self>[0]) => policy.self(who, hostParam(req as Req)) };

  // The `host-offline` extension: a daemon that stops cleanly says so (ignored, 409, when another instance registered since).
  app.post("/api/orchestrators/:id/offline", { config: ownHost }, async (req: Req, reply) => {
    const id = hostParam(req);
    const host = store.host(id);
    if (!host) return reply.code(404).send({ error: "unknown orchestrator" });
    const claimed = (req.body as { instanceId?: unknown } | undefined)?.instanceId;
    const current = (host.registration.meta as Record<string, unknown> | undefined)?.instanceId;
    if (typeof claimed === "string" && typeof current === "string" && claimed !== current) {
      return reply.code(409).send({ error: `another instance of orchestrator ${id} has registered since` });
    }
    store.hostOffline(id, Date.now());
    relay.changed("hosts");
    return { ok: true };
  });

  app.post("/api/orchestrators/:id/heartbeat", { config: ownHost }, async (req: Req, reply) => {
    const id = hostParam(req);
    const [host, meta] = [store.host(id), (req.body as { meta?: unknown } | undefined)?.meta];
    if (host && typeof meta === "object" && meta !== null && !Array.isArray(meta)) {
      // The daemon's onHeartbeat fields join its registration's meta; who it is (instance, pid) stays as registered.
      const { instanceId, previousInstanceId, pid } = (host.registration.meta ?? {}) as Record<string, unknown>;
      const merged = { ...(host.registration.meta as object), ...meta, instanceId, previousInstanceId, pid };
      store.registerHost(id, tokens.redactDeep({ ...host.registration, meta: merged }), host.registeredAt);
    }
    if (!store.heartbeat(id, Date.now())) return reply.code(404).send({ error: "unknown orchestrator" });
    relay.changed("hosts");
    return { ok: true };
  });

  app.patch("/api/orchestrators/:id/agents", { config: ownHost }, async (req: Req, reply) => {
    const report = reportSchema.safeParse(req.body);
    if (!report.success) return invalid(reply, report.error);
    if (!store.setHostAgents(hostParam(req), tokens.redactDeep(report.data.agents), Date.now())) return reply.code(404).send({ error: "unknown orchestrator" });
    relay.changed("agents");
    return { ok: true };
  });

  app.get("/api/messages/cursor", { config: { auth: "host" } }, async () => ({ latestId: store.latestMessageId() }));

  app.get("/api/messages", { config: { auth: "host", host: (req, who) => policy.poll(who, query(req).get("for")) } }, async (req, reply) => {
    const url = query(req);
    const to = url.get("for") ?? "";
    if (!SAFE_ID.test(to)) return reply.code(400).send({ error: "for: expected an agent name" });
    const sinceId = Number(url.get("sinceId") ?? 0) || 0;
    const unread = url.get("unread") === "true";
    // `limit` (an extension): a client that could not take a long answer asks for fewer.
    const asked = Math.floor(Number(url.get("limit") ?? MAX_MESSAGES));
    const limit = asked >= 1 ? Math.min(asked, MAX_MESSAGES) : MAX_MESSAGES;
    if (to.startsWith("orchestrator-") && store.touchHost(to.slice("orchestrator-".length), Date.now())) relay.changed("hosts");
    let messages = store.messagesFor(to, sinceId, unread, limit);
    const wait = waitMs(url);
    if (messages.length === 0 && wait > 0) {
      await relay.waitFor("message", to, wait, req);
      messages = store.messagesFor(to, sinceId, unread, limit);
    }
    reply.header("X-Relay-Epoch", store.epoch); // the daemon resets its journal when this changes
    const answer = withinBytes(messages.map(wire), MAX_ANSWER_BYTES);
    if (!req.raw.destroyed) store.markDelivered(answer.map((m) => m.id), Date.now());
    return answer;
  });

  app.post("/api/messages", { config: { auth: "host", host: (req, who) => policy.send(who, (req.body as { to?: unknown })?.to) } }, async (req, reply) => {
    const parsed = messageSchema.safeParse(req.body);
    if (!parsed.success) return invalid(reply, parsed.error);
    const message = store.insertMessage({ ...parsed.data, createdAt: Date.now() });
    relay.wake("message", message.to);
    relay.changed("messages");
    return reply.code(201).send(message);
  });

  const messageId = (req: FastifyRequest) => Number((req.params as { id: string }).id);
  const ownMessage = (readBy: boolean) => ({
    auth: "host" as const,
    host: (req: FastifyRequest, who: Parameters<typeof policy.self>[0]) => policy.message(who, messageId(req), readBy ? (req.body as { readBy?: unknown })?.readBy : undefined),
  });

  app.patch("/api/messages/:id(^\\d+$)", { config: ownMessage(true) }, async (req, reply) => {
    const id = messageId(req);
    const readBy = (req.body as { readBy?: unknown })?.readBy;
    if (typeof readBy !== "string" || !SAFE_ID.test(readBy)) return reply.code(400).send({ error: "readBy: expected an agent name" });
    if (!store.message(id)) return reply.code(404).send({ error: "no such message" });
    store.markRead(id, readBy, Date.now());
    return { ok: true };
  });

  app.post("/api/messages/:id(^\\d+$)/result", { config: ownMessage(false) }, async (req, reply) => {
    const id = messageId(req);
    if (!store.message(id)) return reply.code(404).send({ error: "no such message" });
    if (typeof req.body !== "object" || req.body === null || typeof (req.body as { ok?: unknown }).ok !== "boolean") {
      return reply.code(400).send({ error: "result: expected an object with a boolean ok" });
    }
    store.setResult(id, tokens.redactDeep(req.body), Date.now());
    relay.wake("result", id);
    relay.changed({ result: id });
    return { ok: true };
  });

  app.get("/api/messages/:id(^\\d+$)/result", { config: { ...ownMessage(false), auth: "viewer" } }, async (req, reply) => {
    const id = messageId(req);
    if (!store.message(id)) return reply.code(404).send({ error: "no such message" });
    const wait = waitMs(query(req));
    let result = store.result(id);
    if (result === undefined && wait > 0) {
      await relay.waitFor("result", id, wait, req);
      result = store.result(id);
    }
    // `delivered`: the addressee has been handed the message (or read it); until then it is queued at the relay.
    if (result === undefined) return reply.code(202).send({ pending: true, delivered: store.delivered(id) });
    return result;
  });

  app.get("/api/agents", { config: { auth: "viewer" } }, async (req) => policy.visibleAgents(req.who!));

  app.post("/api/agents", { config: { auth: "host", host: (req, who) => policy.record(who, (req.body as { id?: unknown })?.id) } }, async (req, reply) => {
    const parsed = agentSchema.safeParse(req.body);
    if (!parsed.success) return invalid(reply, parsed.error);
    const now = Date.now();
    const id = parsed.data.id ?? `agent-${now.toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    const record = { ...parsed.data, id };
    store.upsertAgent(id, tokens.redactDeep(record), now, policy.owner(req.who!));
    relay.changed("agents");
    return reply.code(201).send(record);
  });

  app.delete("/api/agents/*", { config: { auth: "host", host: (req, who) => policy.record(who, (req.params as { "*": string })["*"]) } }, async (req, reply) => {
    if (!store.deleteAgent((req.params as { "*": string })["*"])) return reply.code(404).send({ error: "no such agent" });
    relay.changed("agents");
    return { ok: true };
  });
}

function query(req: FastifyRequest): URLSearchParams {
  return new URL(req.url, "http://relay").searchParams;
}

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

function waitMs(url: URLSearchParams): number {
  const wait = Number(url.get("wait") ?? 0);
  return Number.isFinite(wait) && wait > 0 ? Math.min(wait, MAX_WAIT_MS) : 0;
}

function invalid(reply: FastifyReply, error: z.ZodError): FastifyReply {
  const issue = error.issues[0]!;
  return reply.code(400).send({ error: `${issue.path.join(".") || "body"}: ${issue.message}` });
}
