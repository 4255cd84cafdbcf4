import {
  RelayRequestError,
  type AgentReport,
  type ControlResult,
  type RelayAgentSummary,
  type RelayMessage,
  type RelayTransport,
  type Registration,
} from "../../core/index.js";
import { failure, parseJson, RelayHttp } from "./http.js";
import { wireRegistration, wireReport, wireResult } from "./wire.js";

export interface RelayClientOptions {
  relayUrl: string;
  token?: string;
  /** The orchestrator this client speaks for. */
  orchestratorId: string;
  timeoutMs: number;
  /** How long one long-poll may wait at the relay. */
  longPollMs?: number;
}

/**
 * Protocol v2 over HTTP (PROTOCOL.md), every request bounded by a timeout.
 * Uses long-poll and control results when the relay announces them in its
 * registration answer, and falls back to plain polling when it does not.
 * The daemon's transport only: the CLI's commands use `RelayAdminClient`.
 */
export class RelayHttpClient implements RelayTransport {
  private readonly http: RelayHttp;
  private extensions = new Set<string>();
  private waiting = new AbortController();
  /** How many messages a poll asks for: halved after a poll fails (an answer too big to take), doubled back after each that succeeds. */
  private pollLimit = POLL_LIMIT;
  /** The instance id of the last registration: saying "offline" speaks only for it. */
  private instanceId?: string;
  /** The relay's epoch, from its registration answer and each poll (our relay; plain relays have none). */
  epoch?: string;
  /** The relay's clock minus ours, from the `Date` header of its answers. */
  clockOffsetMs?: number;

  constructor(private readonly options: RelayClientOptions) {
    this.http = new RelayHttp({
      relayUrl: options.relayUrl,
      ...(options.token ? { token: options.token } : {}),
      timeoutMs: options.timeoutMs,
      onAnswer: (headers) => this.measureClock(headers.date),
    });
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
    const instanceId = (registration.meta as Record<string, unknown> | undefined)?.instanceId;
    if (typeof instanceId === "string") this.instanceId = instanceId;
    const res = await this.http.request("POST", "/orchestrators", wireRegistration(registration));
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
      const res = await this.http.request("GET", `/messages?${query}`, undefined, { extraMs: wait, ...(wait > 0 ? { signal: this.waiting.signal } : {}) });
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

  /**
   * Tells the relay this host is going offline (the daemon stops cleanly),
   * where the relay offers that (`host-offline`); otherwise does nothing: a
   * plain relay sees the host go quiet and marks it offline in its own time.
   */
  async goOffline(): Promise<void> {
    if (!this.extensions.has("host-offline")) return;
    await this.call("POST", `/orchestrators/${encodeURIComponent(this.id)}/offline`, this.instanceId ? { instanceId: this.instanceId } : {});
  }

  /** Closes kept-alive connections. */
  close(): void {
    this.http.close();
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
    await this.call("POST", `/messages/${messageId}/result`, wireResult(result));
  }

  async report(agents: AgentReport[]): Promise<void> {
    await this.call("PATCH", `/orchestrators/${encodeURIComponent(this.id)}/agents`, { agents: agents.map(wireReport) });
  }

  async listAgents(): Promise<RelayAgentSummary[]> {
    const data = await this.json("GET", "/agents");
    if (!Array.isArray(data)) throw new RelayRequestError("GET /agents: expected an array of agents");
    return data.filter((a): a is RelayAgentSummary => typeof a === "object" && a !== null && typeof a.id === "string");
  }

  async deleteAgent(agentId: string): Promise<void> {
    const res = await this.http.request("DELETE", `/agents/${encodeURIComponent(agentId)}`);
    if (!res.ok && res.status !== 404) throw await failure("DELETE /agents/:id", res);
  }

  private async call(method: string, path: string, body?: unknown): Promise<void> {
    await this.http.call(method, path, body);
  }

  private async json(method: string, path: string, body?: unknown): Promise<unknown> {
    return this.http.json(method, path, body);
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

/** The most messages a poll asks for: what relays answer at most anyway. */
const POLL_LIMIT = 500;
/** A relay clock this close to ours is taken as ours: the `Date` header has whole seconds only. */
const CLOCK_TOLERANCE_MS = 2_000;
