import { RelayRequestError, type ControlPayload } from "../../core/index.js";
import { failure, isObject, RelayHttp, type RelayHttpOptions } from "./http.js";
import type { WireAgentReport, WireControlResult } from "./wire.js";

/** A host as `GET /api/orchestrators` lists it (relays with our extensions). */
export interface RelayHost {
  id: string;
  hostname?: string;
  providers?: string[];
  baseDir?: string;
  version?: string;
  lastSeen: number;
  online: boolean;
  /** What the daemon announced at registration: `heartbeatIntervalMs`, `startTimeoutsMs` (by provider), `instanceId`, ... (our daemons). */
  meta?: Record<string, unknown>;
  agents: WireAgentReport[];
}

/**
 * What the CLI's commands ask a relay (`spawn`, `ps`, `restart`, `shutdown`):
 * send a control to a host, wait for its answer, list hosts. Separate from
 * the daemon's transport (`RelayHttpClient`); both speak through `RelayHttp`.
 */
export class RelayAdminClient {
  private readonly http: RelayHttp;

  constructor(options: Pick<RelayHttpOptions, "relayUrl" | "token" | "timeoutMs" | "origin">) {
    this.http = new RelayHttp(options);
  }

  /** Sends a control to `orchestrator-<hostId>`; returns the message id. */
  async sendControl(hostId: string, control: ControlPayload, from = "cli"): Promise<number> {
    const message = (await this.http.json("POST", "/messages", {
      to: `orchestrator-${hostId}`,
      from,
      kind: "control",
      body: `${control.action} requested by ${from}`,
      payload: { orchestratorControl: control },
    })) as { id?: unknown };
    if (!Number.isSafeInteger(message?.id)) throw new RelayRequestError("POST /messages: the relay did not answer with a message id");
    return message.id as number;
  }

  /**
   * The answer to a control, waiting up to `waitMs` for it. While there is
   * none, `delivered` tells whether the host has taken the message (our
   * relay says; undefined from relays that do not).
   */
  async result(messageId: number, waitMs: number): Promise<{ result: WireControlResult } | { result?: undefined; delivered?: boolean }> {
    const res = await this.http.request("GET", `/messages/${messageId}/result?wait=${waitMs}`, undefined, { extraMs: waitMs });
    if (res.status === 202) {
      const pending = (await res.json().catch(() => undefined)) as { delivered?: unknown } | undefined;
      return typeof pending?.delivered === "boolean" ? { delivered: pending.delivered } : {};
    }
    if (res.status === 404) throw new RelayRequestError(`the relay does not take control results (or has no message ${messageId})`, 404);
    if (!res.ok) throw await failure("GET /messages/:id/result", res);
    return { result: (await res.json()) as WireControlResult };
  }

  async hosts(): Promise<RelayHost[]> {
    const res = await this.http.request("GET", "/orchestrators");
    if (res.status === 404) throw new RelayRequestError("this relay cannot list hosts (GET /api/orchestrators); it lacks our extensions", 404);
    if (!res.ok) throw await failure("GET /orchestrators", res);
    const data = (await res.json()) as unknown;
    if (!Array.isArray(data)) throw new RelayRequestError("GET /orchestrators: expected an array of hosts");
    // What a relay stored is not trusted to have the shape it should: hosts and agents that are not objects are left out.
    return data.filter(isObject).map((h) => ({ ...h, agents: Array.isArray(h.agents) ? h.agents.filter(isObject) : [] })) as unknown as RelayHost[];
  }

  /** Forgets a host (`DELETE /api/orchestrators/:id`); an online one only with `force`. */
  async removeHost(hostId: string, force = false): Promise<void> {
    const res = await this.http.request("DELETE", `/orchestrators/${encodeURIComponent(hostId)}${force ? "?force=true" : ""}`);
    if (res.status === 404) throw new RelayRequestError(`no host "${hostId}" on this relay (or the relay cannot remove hosts)`, 404);
    if (res.status === 409) {
      const refusal = (await res.json().catch(() => undefined)) as { error?: unknown } | undefined;
      throw new RelayRequestError(typeof refusal?.error === "string" ? refusal.error : `host ${hostId} is online`, 409);
    }
    if (!res.ok) throw await failure("DELETE /orchestrators/:id", res);
  }

  /** Closes kept-alive connections. */
  close(): void {
    this.http.close();
  }
}
