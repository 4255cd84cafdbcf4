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
  fetch?: typeof fetch;
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
  private readonly base: string;
  private readonly fetch: typeof fetch;
  private extensions = new Set<string>();
  /** Called after each successful registration. */
  onRegistered?: () => void;
  private waiting = new AbortController();

  constructor(private readonly options: RelayClientOptions) {
    this.base = `${options.relayUrl.replace(/\/+$/, "")}/api`;
    this.fetch = options.fetch ?? globalThis.fetch;
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
    let answer: { extensions?: unknown } | undefined;
    try {
      answer = JSON.parse(await res.text()) as { extensions?: unknown };
    } catch {
      answer = undefined;
    }
    const extensions = Array.isArray(answer?.extensions) ? answer.extensions.filter((e): e is string => typeof e === "string") : [];
    this.extensions = new Set(extensions);
    this.onRegistered?.();
  }

  async heartbeat(): Promise<void> {
    await this.call("POST", `/orchestrators/${encodeURIComponent(this.id)}/heartbeat`);
  }

  async latestMessageId(): Promise<number> {
    const data = (await this.json("GET", "/messages/cursor")) as { latestId?: unknown };
    const latest = Number(data?.latestId);
    if (!Number.isFinite(latest)) throw new RelayRequestError("GET /messages/cursor: no numeric latestId in the answer");
    return latest;
  }

  async fetchMessages(sinceId: number): Promise<RelayMessage[]> {
    const query = new URLSearchParams({ for: this.agentName, sinceId: String(sinceId), unread: "true" });
    const wait = this.longPolling ? (this.options.longPollMs ?? 25_000) : 0;
    if (wait > 0) query.set("wait", String(wait));
    const data = await this.json("GET", `/messages?${query}`, undefined, { extraMs: wait, interruptible: wait > 0 });
    if (!Array.isArray(data)) throw new RelayRequestError("GET /messages: expected an array of messages");
    return data.filter((m): m is RelayMessage => typeof m === "object" && m !== null && Number.isSafeInteger((m as RelayMessage).id));
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
    return data as RelayHost[];
  }

  private async call(method: string, path: string, body?: unknown): Promise<void> {
    const res = await this.request(method, path, body);
    if (!res.ok) throw await failure(`${method} ${stripQuery(path)}`, res);
    await res.arrayBuffer().catch(() => undefined);
  }

  private async json(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<unknown> {
    const res = await this.request(method, path, body, options);
    if (!res.ok) throw await failure(`${method} ${stripQuery(path)}`, res);
    const text = await res.text();
    if (text.trim() === "") return undefined;
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new RelayRequestError(`${method} ${stripQuery(path)}: the relay answered with malformed JSON`, res.status, { cause: err });
    }
  }

  private async request(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { "Content-Type": "application/json" };
    if (this.options.token) headers["X-Agent-Relay-Token"] = this.options.token;
    const timeoutMs = this.options.timeoutMs + (options.extraMs ?? 0);
    const signals = [AbortSignal.timeout(timeoutMs)];
    if (options.interruptible) signals.push(this.waiting.signal);
    try {
      return await this.fetch(`${this.base}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.any(signals),
      });
    } catch (err) {
      const name = (err as Error)?.name;
      const reason = name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : name === "AbortError" ? "interrupted" : causeOf(err);
      throw new RelayRequestError(`${method} ${stripQuery(path)}: ${reason}`, undefined, { cause: err });
    }
  }
}

interface RequestOptions {
  /** Added to the timeout: the time the relay may hold the request on purpose. */
  extraMs?: number;
  interruptible?: boolean;
}

async function failure(what: string, res: Response): Promise<RelayRequestError> {
  const text = (await res.text().catch(() => "")).slice(0, 200).replace(/\s+/g, " ").trim();
  return new RelayRequestError(`${what}: HTTP ${res.status}${text ? ` ${text}` : ""}`, res.status);
}

function causeOf(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
}

function stripQuery(path: string): string {
  return path.split("?")[0]!;
}
