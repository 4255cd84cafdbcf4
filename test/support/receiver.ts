import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** One request a receiver got. `answered` is false while a hanging answer is held. */
export interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  status?: number;
  answered: boolean;
}

/** How to answer the n-th request (0-based): a status, or `"hang"` (held until `release()` or close). */
export type Answer = number | "hang";

/**
 * A real HTTP server on 127.0.0.1, port 0, that records what it receives:
 * a webhook or an ntfy topic for tests.
 */
export class Receiver {
  readonly requests: Received[] = [];
  private readonly held: ServerResponse[] = [];
  private readonly server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const received: Received = { method: req.method ?? "", path: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString("utf8"), answered: false };
      const answer = this.answer(this.requests.length);
      this.requests.push(received);
      if (answer === "hang") return void this.held.push(res);
      received.status = answer;
      received.answered = true;
      res.writeHead(answer).end();
    });
  });

  private constructor(private readonly answer: (n: number) => Answer) {}

  static async start(answer: (n: number) => Answer = () => 200): Promise<Receiver> {
    const receiver = new Receiver(answer);
    await new Promise<void>((resolve) => receiver.server.listen(0, "127.0.0.1", resolve));
    return receiver;
  }

  url(path = "/hook"): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${path}`;
  }

  /** The JSON bodies received, parsed. */
  json<T = Record<string, any>>(): T[] {
    return this.requests.map((r) => JSON.parse(r.body) as T);
  }

  /** Answers every held request with `status`. */
  release(status = 200): void {
    for (const res of this.held.splice(0)) res.writeHead(status).end();
  }

  async close(): Promise<void> {
    for (const res of this.held.splice(0)) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
