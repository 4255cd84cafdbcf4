import { RelayRequestError, type AgentReport, type RelayAgentSummary, type RelayMessage, type RelayTransport, type Registration } from "../../core/index.js";

export interface RelayClientOptions {
  relayUrl: string;
  token?: string;
  orchestratorId: string;
  timeoutMs: number;
  fetch?: typeof fetch;
}

/** Protocol v2 over HTTP (PROTOCOL.md), every request bounded by a timeout. */
export class RelayHttpClient implements RelayTransport {
  private readonly base: string;
  private readonly agentName: string;
  private readonly fetch: typeof fetch;

  constructor(private readonly options: RelayClientOptions) {
    this.base = `${options.relayUrl.replace(/\/+$/, "")}/api`;
    this.agentName = `orchestrator-${options.orchestratorId}`;
    this.fetch = options.fetch ?? globalThis.fetch;
  }

  async register(registration: Registration): Promise<void> {
    await this.call("POST", "/orchestrators", registration);
  }

  async heartbeat(): Promise<void> {
    await this.call("POST", `/orchestrators/${encodeURIComponent(this.options.orchestratorId)}/heartbeat`);
  }

  async latestMessageId(): Promise<number> {
    const data = (await this.json("GET", "/messages/cursor")) as { latestId?: unknown };
    const latest = Number(data?.latestId);
    if (!Number.isFinite(latest)) throw new RelayRequestError("GET /messages/cursor: no numeric latestId in the answer");
    return latest;
  }

  async fetchMessages(sinceId: number): Promise<RelayMessage[]> {
    const query = new URLSearchParams({ for: this.agentName, sinceId: String(sinceId), unread: "true" });
    const data = await this.json("GET", `/messages?${query}`);
    if (!Array.isArray(data)) throw new RelayRequestError("GET /messages: expected an array of messages");
    return data.filter(
      (m): m is RelayMessage => typeof m === "object" && m !== null && Number.isSafeInteger((m as RelayMessage).id),
    );
  }

  async ack(messageId: number): Promise<void> {
    await this.call("PATCH", `/messages/${messageId}`, { readBy: this.agentName });
  }

  async report(agents: AgentReport[]): Promise<void> {
    await this.call("PATCH", `/orchestrators/${encodeURIComponent(this.options.orchestratorId)}/agents`, { agents });
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

  private async call(method: string, path: string, body?: unknown): Promise<void> {
    const res = await this.request(method, path, body);
    if (!res.ok) throw await failure(`${method} ${stripQuery(path)}`, res);
    await res.arrayBuffer().catch(() => undefined);
  }

  private async json(method: string, path: string): Promise<unknown> {
    const res = await this.request(method, path);
    if (!res.ok) throw await failure(`${method} ${stripQuery(path)}`, res);
    try {
      return await res.json();
    } catch (err) {
      throw new RelayRequestError(`${method} ${stripQuery(path)}: the relay answered with malformed JSON`, res.status, { cause: err });
    }
  }

  private async request(method: string, path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = { "Content-Type": "application/json" };
    if (this.options.token) headers["X-Agent-Relay-Token"] = this.options.token;
    try {
      return await this.fetch(`${this.base}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (err) {
      const reason = (err as Error)?.name === "TimeoutError" ? `no answer within ${this.options.timeoutMs} ms` : causeOf(err);
      throw new RelayRequestError(`${method} ${stripQuery(path)}: ${reason}`, undefined, { cause: err });
    }
  }
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
