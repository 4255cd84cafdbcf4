import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A relay that speaks exactly PROTOCOL.md (no extensions), in memory, on
 * 127.0.0.1 and a free port. Tests read what it saw and can make it misbehave.
 */
export interface StoredMessage {
  id: number;
  to: string;
  kind: string;
  body: string;
  createdAt: number;
  payload: Record<string, unknown>;
  meta: Record<string, unknown>;
  readBy: Set<string>;
}

export interface Fault {
  /** Answer this status to every request whose "METHOD /path" matches. */
  status?: number;
  /** Send this raw body instead (with `status`, or 200). */
  raw?: string;
  /** Never answer. */
  hang?: boolean;
  /** Only this many times (then the fault is gone); every time when absent. */
  times?: number;
}

export interface TestRelayOptions {
  token?: string;
  extensions?: boolean;
  longPoll?: boolean;
}

export class TestRelay {
  readonly orchestrators = new Map<string, Record<string, unknown>>();
  readonly reports = new Map<string, Array<Record<string, unknown>>>();
  readonly heartbeats = new Map<string, number>();
  readonly messages: StoredMessage[] = [];
  readonly agents = new Map<string, Record<string, unknown>>();
  readonly acks: Array<{ id: number; by: string }> = [];
  readonly requests: Array<{ method: string; path: string; query: URLSearchParams; token?: string; at: number }> = [];
  readonly deletedAgents: string[] = [];
  faults: Array<{ match: RegExp; fault: Fault }> = [];
  /** Acks are answered 200 and forgotten: every message is delivered again. */
  dropAcks = false;
  /** Every poll returns all of the orchestrator's messages, read or not, whatever sinceId says. */
  replay = false;
  /** The first answer to each control (with `extensions`), and how many answers came. */
  readonly results = new Map<number, Record<string, unknown>>();
  readonly answerCounts = new Map<number, number>();
  /** When the first answer to each control arrived. */
  readonly answeredAt = new Map<number, number>();
  /** Announced like our relay does (registration answer, `X-Relay-Epoch` on polls) when set. */
  epoch?: string;
  /** This relay's clock runs this many ms off the host's: in createdAt and the `Date` header. */
  clockOffsetMs = 0;
  private nextId = 1;
  private server?: Server;
  private readonly hanging = new Set<ServerResponse>();
  url = "";

  /** Long-polls waiting in `GET /api/messages` (with `longPoll`), woken when a message is queued. */
  private readonly waiting = new Set<() => void>();

  /**
   * `extensions`: answers controls (`control-results`); `longPoll`: also
   * offers long-poll (`wait=` holds a poll until a message is queued), as our
   * relay does, so fault tests run on the daemon's default path too.
   */
  constructor(readonly options: TestRelayOptions = {}) {}

  /** This relay's clock. */
  now(): number {
    return Date.now() + this.clockOffsetMs;
  }

  /** Loses every message, answer and ack, as a relay whose database was wiped: ids start at 1 again. */
  wipe(): void {
    this.messages.length = 0;
    this.results.clear();
    this.answerCounts.clear();
    this.answeredAt.clear();
    this.acks.length = 0;
    this.nextId = 1;
  }

  async start(port = 0): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(port, "127.0.0.1", resolve));
    const address = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${address.port}`;
    return this;
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  async stop(): Promise<void> {
    for (const wake of [...this.waiting]) wake();
    for (const res of this.hanging) res.destroy();
    this.hanging.clear();
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = undefined;
  }

  /** Queues a control message for `orchestrator-<id>` and returns its id. */
  sendControl(orchestratorId: string, control: unknown, options: { legacyMeta?: boolean; createdAt?: number } = {}): number {
    const id = this.nextId++;
    this.messages.push({
      id,
      to: `orchestrator-${orchestratorId}`,
      kind: "control",
      body: "",
      createdAt: options.createdAt ?? this.now(),
      payload: options.legacyMeta ? {} : { orchestratorControl: control },
      meta: options.legacyMeta ? { orchestratorControl: control } : {},
      readBy: new Set(),
    });
    for (const wake of [...this.waiting]) wake();
    return id;
  }

  /** The last agent list an orchestrator reported. */
  reported(orchestratorId: string): Array<Record<string, unknown>> {
    return this.reports.get(orchestratorId) ?? [];
  }

  /**
   * Waits until `times` more polls (`GET /api/messages`) have been answered,
   * so a test that asserts "nothing happened" knows the daemon looked.
   */
  async polls(times: number, timeoutMs = 20_000): Promise<void> {
    const count = () => this.requests.filter((r) => r.method === "GET" && r.path === "/api/messages").length;
    const target = count() + times;
    const deadline = Date.now() + timeoutMs;
    while (count() < target) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${times} more polls`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  ackCount(messageId: number): number {
    return this.acks.filter((a) => a.id === messageId).length;
  }

  /** Forgets every registration, as a relay restarted without storage would. */
  forgetOrchestrators(): void {
    this.orchestrators.clear();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://relay");
    const path = url.pathname;
    const method = req.method ?? "GET";
    const token = req.headers["x-agent-relay-token"] as string | undefined;
    this.requests.push({ method, path, query: url.searchParams, at: Date.now(), ...(token !== undefined ? { token } : {}) });
    const body = await readBody(req);
    const fault = this.faults.find((f) => f.match.test(`${method} ${path}`) && f.fault.times !== 0)?.fault;
    if (fault?.times !== undefined) fault.times--;
    if (fault?.hang) {
      this.hanging.add(res);
      return;
    }
    if (this.clockOffsetMs !== 0) res.setHeader("Date", new Date(this.now()).toUTCString());
    if (fault?.raw !== undefined) return send(res, fault.status ?? 200, fault.raw);
    if (fault?.status) return send(res, fault.status, JSON.stringify({ error: "injected" }));
    if (this.options.token && token !== this.options.token) return send(res, 401, JSON.stringify({ error: "unauthorized" }));

    let match: RegExpMatchArray | null;
    if (method === "POST" && path === "/api/orchestrators") {
      const data = JSON.parse(body || "{}") as Record<string, unknown>;
      this.orchestrators.set(String(data.id), data);
      const epoch = this.epoch !== undefined ? { epoch: this.epoch } : {};
      const extensions = [...(this.options.extensions ? ["control-results"] : []), ...(this.options.longPoll ? ["long-poll"] : [])];
      return json(res, 200, extensions.length ? { ok: true, extensions, ...epoch } : { ok: true, ...epoch });
    }
    if (method === "GET" && path === "/api/messages/cursor") {
      return json(res, 200, { latestId: this.messages.at(-1)?.id ?? 0 });
    }
    if (method === "POST" && (match = path.match(/^\/api\/orchestrators\/([^/]+)\/heartbeat$/))) {
      const id = decodeURIComponent(match[1]!);
      if (!this.orchestrators.has(id)) return json(res, 404, { error: "unknown orchestrator" });
      this.heartbeats.set(id, (this.heartbeats.get(id) ?? 0) + 1);
      return json(res, 200, { ok: true });
    }
    if (method === "PATCH" && (match = path.match(/^\/api\/orchestrators\/([^/]+)\/agents$/))) {
      const id = decodeURIComponent(match[1]!);
      if (!this.orchestrators.has(id)) return json(res, 404, { error: "unknown orchestrator" });
      this.reports.set(id, (JSON.parse(body) as { agents: Array<Record<string, unknown>> }).agents);
      return json(res, 200, { ok: true });
    }
    if (method === "GET" && path === "/api/messages") {
      const to = url.searchParams.get("for") ?? "";
      const sinceId = Number(url.searchParams.get("sinceId") ?? 0);
      const unread = url.searchParams.get("unread") === "true";
      // `limit`, as our relay takes it (a plain relay ignores it: no limit at all then)
      const limit = Number(url.searchParams.get("limit") ?? Infinity);
      const pick = () =>
        this.messages
          .filter((m) => m.to === to && (this.replay || (m.id > sinceId && (!unread || !m.readBy.has(to)))))
          .slice(0, limit >= 1 ? limit : undefined)
          .map(({ readBy: _r, to: _t, ...m }) => m);
      let list = pick();
      // Held at most a second (a relay may answer a long-poll early): an idle daemon still polls often enough for tests to count.
      const wait = Math.min(Number(url.searchParams.get("wait") ?? 0) || 0, 1_000);
      if (list.length === 0 && wait > 0 && this.options.longPoll) {
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            this.waiting.delete(done);
            resolve();
          };
          const timer = setTimeout(done, wait);
          this.waiting.add(done);
          req.once("close", done);
        });
        list = pick();
      }
      if (this.epoch !== undefined) res.setHeader("X-Relay-Epoch", this.epoch);
      return json(res, 200, list);
    }
    if (method === "PATCH" && (match = path.match(/^\/api\/messages\/(\d+)$/))) {
      const id = Number(match[1]);
      const message = this.messages.find((m) => m.id === id);
      if (!message) return json(res, 404, { error: "no such message" });
      const by = String((JSON.parse(body || "{}") as { readBy?: string }).readBy);
      if (!this.dropAcks) message.readBy.add(by);
      this.acks.push({ id, by });
      return json(res, 200, { ok: true });
    }
    if (method === "POST" && (match = path.match(/^\/api\/messages\/(\d+)\/result$/)) && this.options.extensions) {
      const id = Number(match[1]);
      this.answerCounts.set(id, (this.answerCounts.get(id) ?? 0) + 1);
      if (!this.results.has(id)) {
        this.results.set(id, JSON.parse(body) as Record<string, unknown>);
        this.answeredAt.set(id, Date.now());
      }
      return json(res, 200, { ok: true });
    }
    if (method === "GET" && path === "/api/agents") return json(res, 200, [...this.agents.values()]);
    if (method === "DELETE" && (match = path.match(/^\/api\/agents\/(.+)$/))) {
      const id = decodeURIComponent(match[1]!);
      this.deletedAgents.push(id);
      return this.agents.delete(id) ? json(res, 200, { ok: true }) : json(res, 404, { error: "no such agent" });
    }
    return json(res, 404, { error: `no route ${method} ${path}` });
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
  });
}

function json(res: ServerResponse, status: number, data: unknown): void {
  send(res, status, JSON.stringify(data));
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(body);
}
