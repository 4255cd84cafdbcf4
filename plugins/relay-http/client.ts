import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import {
  RelayRequestError,
  type AgentReport,
  type ControlPayload,
  type ControlResult,
  type RelayAgentSummary,
  type RelayMessage,
  type RelayTransport,
  type Registration,
} from "../../core/index.js";

export interface RelayClientOptions {
  relayUrl: string;
  token?: string;
  /** The orchestrator this client speaks for; needed by the daemon's calls only. */
  orchestratorId?: string;
  timeoutMs: number;
  /** How long one long-poll may wait at the relay. */
  longPollMs?: number;
}

/** A host as `GET /api/orchestrators` lists it (relays with our extensions). */
export interface RelayHost {
  id: string;
  hostname?: string;
  providers?: string[];
  baseDir?: string;
  version?: string;
  lastSeen: number;
  online: boolean;
  agents: AgentReport[];
}

/**
 * Protocol v2 over HTTP (PROTOCOL.md), every request bounded by a timeout.
 * Uses long-poll and control results when the relay announces them in its
 * registration answer, and falls back to plain polling when it does not.
 * Also the client of the CLI's commands (send a control, wait for its
 * answer, list hosts).
 */
export class RelayHttpClient implements RelayTransport {
  private readonly base: URL;
  private readonly agent: HttpAgent;
  private extensions = new Set<string>();
  /** Called after each successful registration. */
  onRegistered?: () => void;
  private waiting = new AbortController();
  /** How many messages a poll asks for: halved after a poll fails (an answer too big to take), doubled back after each that succeeds. */
  private pollLimit = POLL_LIMIT;
  /** The relay's epoch, from its registration answer and each poll (our relay; plain relays have none). */
  epoch?: string;
  /** The relay's clock minus ours, from the `Date` header of its answers. */
  clockOffsetMs?: number;

  constructor(private readonly options: RelayClientOptions) {
    this.base = new URL(`${options.relayUrl.replace(/\/+$/, "")}/api`);
    this.agent = new (this.base.protocol === "https:" ? HttpsAgent : HttpAgent)({ keepAlive: true, maxSockets: 8 });
  }

  get longPolling(): boolean {
    return this.extensions.has("long-poll");
  }

  private get id(): string {
    if (!this.options.orchestratorId) throw new Error("this relay client has no orchestrator id");
    return this.options.orchestratorId;
  }

  private get agentName(): string {
    return `orchestrator-${this.id}`;
  }

  async register(registration: Registration): Promise<void> {
    const res = await this.request("POST", "/orchestrators", registration);
    if (!res.ok) throw await failure("POST /orchestrators", res);
    // A plain relay may answer anything; only ours lists extensions.
    let answer: { extensions?: unknown; epoch?: unknown } | undefined;
    try {
      answer = JSON.parse(await res.text()) as { extensions?: unknown; epoch?: unknown };
    } catch {
      answer = undefined;
    }
    const extensions = Array.isArray(answer?.extensions) ? answer.extensions.filter((e): e is string => typeof e === "string") : [];
    this.extensions = new Set(extensions);
    if (typeof answer?.epoch === "string" && answer.epoch) this.epoch = answer.epoch;
    this.onRegistered?.();
  }

  /** `meta` goes as the JSON body `{ meta }` when it has fields (the built-in relay keeps it; others ignore it). */
  async heartbeat(meta: Record<string, unknown> = {}): Promise<void> {
    const body = Object.keys(meta).length > 0 ? { meta } : undefined;
    await this.call("POST", `/orchestrators/${encodeURIComponent(this.id)}/heartbeat`, body);
  }

  async latestMessageId(): Promise<number> {
    const data = (await this.json("GET", "/messages/cursor")) as { latestId?: unknown };
    const latest = Number(data?.latestId);
    if (!Number.isFinite(latest)) throw new RelayRequestError("GET /messages/cursor: no numeric latestId in the answer");
    return latest;
  }

  /**
   * Unread messages above `sinceId`. After a poll that failed, the next asks
   * for fewer (`limit`, an extension a plain relay ignores): a backlog of big
   * messages then comes a few at a time instead of failing the same way forever.
   */
  async fetchMessages(sinceId: number): Promise<RelayMessage[]> {
    const query = new URLSearchParams({ for: this.agentName, sinceId: String(sinceId), unread: "true" });
    const wait = this.longPolling ? (this.options.longPollMs ?? 25_000) : 0;
    if (wait > 0) query.set("wait", String(wait));
    if (this.pollLimit < POLL_LIMIT) query.set("limit", String(this.pollLimit));
    let data: unknown;
    try {
      const res = await this.request("GET", `/messages?${query}`, undefined, { extraMs: wait, interruptible: wait > 0 });
      data = await parseJson("GET /messages", res);
      const epoch = res.headers["x-relay-epoch"];
      if (typeof epoch === "string" && epoch) this.epoch = epoch;
      if (!Array.isArray(data)) throw new RelayRequestError("GET /messages: expected an array of messages");
    } catch (err) {
      if (!(err instanceof RelayRequestError && /: interrupted$/.test(err.message))) this.pollLimit = Math.max(1, Math.floor(this.pollLimit / 2));
      throw err;
    }
    this.pollLimit = Math.min(POLL_LIMIT, this.pollLimit * 2);
    return data.filter((m): m is RelayMessage => typeof m === "object" && m !== null && Number.isSafeInteger((m as RelayMessage).id));
  }

  /** Closes kept-alive connections. */
  close(): void {
    this.agent.destroy();
  }

  interrupt(): void {
    this.waiting.abort();
    this.waiting = new AbortController();
  }

  async ack(messageId: number): Promise<void> {
    await this.call("PATCH", `/messages/${messageId}`, { readBy: this.agentName });
  }

  async answer(messageId: number, result: ControlResult): Promise<void> {
    if (!this.extensions.has("control-results")) return;
    await this.call("POST", `/messages/${messageId}/result`, result);
  }

  async report(agents: AgentReport[]): Promise<void> {
    await this.call("PATCH", `/orchestrators/${encodeURIComponent(this.id)}/agents`, { agents });
  }

  async listAgents(): Promise<RelayAgentSummary[]> {
    const data = await this.json("GET", "/agents");
    if (!Array.isArray(data)) throw new RelayRequestError("GET /agents: expected an array of agents");
    return data.filter((a): a is RelayAgentSummary => typeof a === "object" && a !== null && typeof a.id === "string");
  }

  async deleteAgent(agentId: string): Promise<void> {
    const res = await this.request("DELETE", `/agents/${encodeURIComponent(agentId)}`);
    if (!res.ok && res.status !== 404) throw await failure("DELETE /agents/:id", res);
  }

  /** Sends a control to `orchestrator-<hostId>`; returns the message id. */
  async sendControl(hostId: string, control: ControlPayload, from = "cli"): Promise<number> {
    const message = (await this.json("POST", "/messages", {
      to: `orchestrator-${hostId}`,
      from,
      kind: "control",
      body: `${control.action} requested by ${from}`,
      payload: { orchestratorControl: control },
    })) as { id?: unknown };
    if (!Number.isSafeInteger(message?.id)) throw new RelayRequestError("POST /messages: the relay did not answer with a message id");
    return message.id as number;
  }

  /** The answer to a control, waiting up to `waitMs` for it; undefined while there is none. */
  async result(messageId: number, waitMs: number): Promise<ControlResult | undefined> {
    const res = await this.request("GET", `/messages/${messageId}/result?wait=${waitMs}`, undefined, { extraMs: waitMs });
    if (res.status === 202) return undefined;
    if (res.status === 404) throw new RelayRequestError(`the relay does not take control results (or has no message ${messageId})`, 404);
    if (!res.ok) throw await failure("GET /messages/:id/result", res);
    return (await res.json()) as ControlResult;
  }

  async hosts(): Promise<RelayHost[]> {
    const res = await this.request("GET", "/orchestrators");
    if (res.status === 404) throw new RelayRequestError("this relay cannot list hosts (GET /api/orchestrators); it lacks our extensions", 404);
    if (!res.ok) throw await failure("GET /orchestrators", res);
    const data = (await res.json()) as unknown;
    if (!Array.isArray(data)) throw new RelayRequestError("GET /orchestrators: expected an array of hosts");
    // What a relay stored is not trusted to have the shape it should: hosts and agents that are not objects are left out.
    return data.filter(isObject).map((h) => ({ ...h, agents: Array.isArray(h.agents) ? h.agents.filter(isObject) : [] })) as unknown as RelayHost[];
  }

  private async call(method: string, path: string, body?: unknown): Promise<void> {
    const res = await this.request(method, path, body);
    if (!res.ok) throw await failure(`${method} ${stripQuery(path)}`, res);
    await res.arrayBuffer().catch(() => undefined);
  }

  private async json(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<unknown> {
    return parseJson(`${method} ${stripQuery(path)}`, await this.request(method, path, body, options));
  }

  /**
   * One HTTP request with node:http (lighter than fetch for a daemon that
   * lives long), bounded by a timeout, with the answer read whole (at most
   * 16 MiB: a relay cannot make the daemon hold more).
   */
  private request(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<Answer> {
    const headers: Record<string, string> = { "Content-Type": "application/json" };
    if (this.options.token) headers["X-Agent-Relay-Token"] = this.options.token;
    const payload = body !== undefined ? JSON.stringify(body) : undefined;
    if (payload !== undefined) headers["Content-Length"] = String(Buffer.byteLength(payload));
    const timeoutMs = this.options.timeoutMs + (options.extraMs ?? 0);
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = options.interruptible ? AbortSignal.any([timeout, this.waiting.signal]) : timeout;
    const url = new URL(`${this.base.pathname}${path}`, this.base);
    const what = `${method} ${stripQuery(path)}`;
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const fail = (err: unknown) => {
        const reason = timeout.aborted ? `no answer within ${timeoutMs} ms` : signal.aborted ? "interrupted" : causeOf(err);
        reject(new RelayRequestError(`${what}: ${reason}`, undefined, { cause: err }));
      };
      const req = send(url, { method, headers, agent: this.agent, signal }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_ANSWER_BYTES) {
            req.destroy(new Error(`the answer is over ${MAX_ANSWER_BYTES} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on("end", () => {
          this.measureClock(res.headers.date);
          resolve(new Answer(res.statusCode ?? 0, Buffer.concat(chunks).toString("utf8"), res.headers));
        });
        res.on("error", fail);
      });
      req.on("error", fail);
      req.end(payload);
    });
  }

  /**
   * The relay's clock from its `Date` header (whole seconds, stamped when the
   * answer was written). That header cannot tell less than a second or two, so
   * a relay within 2 s of this host counts as in step (offset 0); a larger
   * offset is taken to within a second, and moves only when it changes by
   * more than that rounding, so one measure holds steady.
   */
  private measureClock(date: string | undefined): void {
    const relayNow = date ? Date.parse(date) : NaN;
    if (!Number.isFinite(relayNow)) return;
    const measured = relayNow + 500 - Date.now();
    const offset = Math.abs(measured) < CLOCK_TOLERANCE_MS ? 0 : measured;
    if (this.clockOffsetMs === undefined || Math.abs(offset - this.clockOffsetMs) > 1_000) this.clockOffsetMs = offset;
  }
}

async function parseJson(what: string, res: Answer): Promise<unknown> {
  if (!res.ok) throw await failure(what, res);
  const text = await res.text();
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new RelayRequestError(`${what}: the relay answered with malformed JSON`, res.status, { cause: err });
  }
}

const MAX_ANSWER_BYTES = 16 * 1024 * 1024;
/** The most messages a poll asks for: what relays answer at most anyway. */
const POLL_LIMIT = 500;
/** A relay clock this close to ours is taken as ours: the `Date` header has whole seconds only. */
const CLOCK_TOLERANCE_MS = 2_000;

/** A relay's answer, read whole. */
class Answer {
  constructor(
    readonly status: number,
    private readonly body: string,
    readonly headers: IncomingHttpHeaders = {},
  ) {}

  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  async text(): Promise<string> {
    return this.body;
  }

  async json(): Promise<unknown> {
    return JSON.parse(this.body);
  }

  async arrayBuffer(): Promise<void> {}
}

interface RequestOptions {
  /** Added to the timeout: the time the relay may hold the request on purpose. */
  extraMs?: number;
  interruptible?: boolean;
}

async function failure(what: string, res: Answer): Promise<RelayRequestError> {
  const text = (await res.text().catch(() => "")).slice(0, 200).replace(/\s+/g, " ").trim();
  return new RelayRequestError(`${what}: HTTP ${res.status}${text ? ` ${text}` : ""}`, res.status);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function causeOf(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  return e?.code ?? e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
}

function stripQuery(path: string): string {
  return path.split("?")[0]!;
}
