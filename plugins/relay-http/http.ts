import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { RelayRequestError } from "../../core/index.js";

export interface RelayHttpOptions {
  relayUrl: string;
  token?: string;
  timeoutMs: number;
  /** Sees the headers of every answer (the daemon's transport reads the relay's clock from `Date`). */
  onAnswer?: (headers: IncomingHttpHeaders) => void;
  /**
   * Where `relayUrl` came from (a flag, a variable, a file), for a user who
   * must fix it: with it, a request that gets no answer at all says which
   * relay it tried and why that one.
   */
  origin?: string;
}

/**
 * The HTTP requests of the relay's API (`<relayUrl>/api`), shared by the
 * daemon's transport (`RelayHttpClient`) and the CLI's admin client
 * (`RelayAdminClient`): the token header, a timeout on each request, and
 * answers read whole and bounded.
 */
export class RelayHttp {
  private readonly base: URL;
  private readonly agent: HttpAgent;

  constructor(private readonly options: RelayHttpOptions) {
    this.base = new URL(`${options.relayUrl.replace(/\/+$/, "")}/api`);
    this.agent = new (this.base.protocol === "https:" ? HttpsAgent : HttpAgent)({ keepAlive: true, maxSockets: 8 });
  }

  /** Closes kept-alive connections. */
  close(): void {
    this.agent.destroy();
  }

  /** A request whose answer must be 2xx; its body is not read. */
  async call(method: string, path: string, body?: unknown): Promise<void> {
    const res = await this.request(method, path, body);
    if (!res.ok) throw await failure(`${method} ${stripQuery(path)}`, res);
    await res.arrayBuffer().catch(() => undefined);
  }

  /** A request whose answer must be 2xx JSON (an empty body is undefined). */
  async json(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<unknown> {
    return parseJson(`${method} ${stripQuery(path)}`, await this.request(method, path, body, options));
  }

  /**
   * One HTTP request with node:http (lighter than fetch for a daemon that
   * lives long), bounded by a timeout, with the answer read whole (at most
   * 16 MiB: a relay cannot make the daemon hold more).
   */
  request(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<Answer> {
    const headers: Record<string, string> = { "Content-Type": "application/json" };
    if (this.options.token) headers["X-Agent-Relay-Token"] = this.options.token;
    const payload = body !== undefined ? JSON.stringify(body) : undefined;
    if (payload !== undefined) headers["Content-Length"] = String(Buffer.byteLength(payload));
    const timeoutMs = this.options.timeoutMs + (options.extraMs ?? 0);
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
    const url = new URL(`${this.base.pathname}${path}`, this.base);
    const what = `${method} ${stripQuery(path)}`;
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const fail = (err: unknown) => {
        const reason = timeout.aborted ? `no answer within ${timeoutMs} ms` : signal.aborted ? "interrupted" : causeOf(err);
        const where = this.options.origin && !signal.aborted ? `cannot reach the relay at ${this.options.relayUrl} (${this.options.origin}): ` : "";
        reject(new RelayRequestError(`${where}${what}: ${reason}`, undefined, { cause: err }));
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
          this.options.onAnswer?.(res.headers);
          resolve(new Answer(res.statusCode ?? 0, Buffer.concat(chunks).toString("utf8"), res.headers));
        });
        res.on("error", fail);
      });
      req.on("error", fail);
      req.end(payload);
    });
  }
}

export async function parseJson(what: string, res: Answer): Promise<unknown> {
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

/** A relay's answer, read whole. */
export class Answer {
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

export interface RequestOptions {
  /** Added to the timeout: the time the relay may hold the request on purpose. */
  extraMs?: number;
  /** Ends the request early (it then fails as "interrupted"). */
  signal?: AbortSignal;
}

export async function failure(what: string, res: Answer): Promise<RelayRequestError> {
  const text = (await res.text().catch(() => "")).slice(0, 200).replace(/\s+/g, " ").trim();
  return new RelayRequestError(`${what}: HTTP ${res.status}${text ? ` ${text}` : ""}`, res.status);
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function causeOf(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  return e?.code ?? e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
}

export function stripQuery(path: string): string {
  return path.split("?")[0]!;
}
