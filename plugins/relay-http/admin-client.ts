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

  /** The answer to a control, waiting up to `waitMs` for it; undefined while there is none. */
  async result(messageId: number, waitMs: number): Promise<WireControlResult | undefined> {
    const res = await this.http.request("GET", `/messages/${messageId}/result?wait=${waitMs}`, undefined, { extraMs: waitMs });
    if (res.status === 202) return undefined;
    if (res.status === 404) throw new RelayRequestError(`the relay does not take control results (or has no message ${messageId})`, 404);
    if (!res.ok) throw await failure("GET /messages/:id/result", res);
    return (await res.json()) as WireControlResult;
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

  /** Closes kept-alive connections. */
  close(): void {
    this.http.close();
  }
}
