import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * What the model answers to one request: text, or a Bash tool call (claude)
 * that the next request carries the result of. `until` holds the answer back
 * until it settles, so a test can watch the agent while it waits ("working").
 */
export type Reply = { text: string; until?: Promise<unknown> } | { bash: string; until?: Promise<unknown> };

/** One request as the fake API received it. */
export interface ApiRequest {
  method: string;
  path: string;
  /** The parsed JSON body (undefined when there was none or it was not JSON). */
  body?: any;
  at: number;
}

/**
 * A fake model API on 127.0.0.1 and a free port, for the real CLIs offline
 * (../../shared/AGENT-CLIS.md): Anthropic's `POST /v1/messages` (streamed as
 * server-sent events) for claude, OpenAI's Responses API (`/v1/responses`)
 * for codex. A turn is scripted by a piece of its prompt (`on`); anything
 * unscripted, titles included, is answered with a short text. Every request
 * is kept, in order, for the test to read.
 */
export class FakeApi {
  readonly requests: ApiRequest[] = [];
  url = "";
  private server?: Server;
  /** `continuing`: its last reply was a tool call, so the next tool result belongs to it. */
  private readonly scripts: Array<{ match: string; replies: Reply[]; continuing: boolean }> = [];
  private ids = 0;

  /**
   * The turn whose prompt contains `match` is answered with `replies`, one per
   * request of the turn: after a tool call, the request carrying its result
   * gets the next reply. Once only: a second turn with the same prompt gets
   * the default answer.
   */
  on(match: string, ...replies: Reply[]): this {
    this.scripts.push({ match, replies: [...replies], continuing: false });
    return this;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve) ?? resolve(undefined));
  }

  /** The requests of real turns, not titles or other side requests. */
  turnRequests(): ApiRequest[] {
    return this.requests.filter((r) => r.method === "POST" && isTurn(r.path, r.body));
  }

  /**
   * How many times the user said `text`, as the model sees it: its
   * occurrences in the user messages of the latest turn request (each turn
   * carries the whole conversation, so counting requests would count a
   * prompt again in every later turn; two prompts merged into one message
   * still count twice).
   */
  timesSaid(text: string): number {
    const last = this.turnRequests().at(-1);
    if (!last) return 0;
    const messages: any[] = last.body.messages ?? last.body.input ?? [];
    return messages
      .filter((m) => m.role === "user")
      .flatMap(userTexts)
      .reduce((n, t) => n + t.split(text).length - 1, 0);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0]!;
    const raw = await readBody(req);
    let body: any;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      body = undefined;
    }
    this.requests.push({ method: req.method ?? "", path, body, at: Date.now() });
    if (path === "/v1/responses" && req.method === "GET") {
      // codex tries a WebSocket first; 426 sends it to plain HTTP streaming
      res.writeHead(426, { "Content-Type": "application/json" }).end(JSON.stringify({ error: { message: "use HTTP" } }));
      return;
    }
    if (req.method !== "POST" || (path !== "/v1/messages" && path !== "/v1/responses")) {
      res.writeHead(404, { "Content-Type": "application/json" }).end(JSON.stringify({ type: "error", error: { type: "not_found_error", message: "not here" } }));
      return;
    }
    const reply = isTurn(path, body) ? this.replyFor(lastUserMessage(body?.messages ?? body?.input)) : { text: path === "/v1/messages" ? "Fake title" : '{"title":"Fake title"}' };
    await reply.until;
    if (path === "/v1/messages") this.answerClaude(res, body, reply);
    else this.answerCodex(res, reply);
  }

  /** The scripted reply for a turn whose last user message is `last`, or the default text. */
  private replyFor(last: any): Reply {
    const texts = userTexts(last);
    const continuing = Array.isArray(last?.content) && last.content.some((b: any) => b?.type === "tool_result");
    const script = continuing
      ? this.scripts.find((s) => s.replies.length > 0 && s.continuing)
      : this.scripts.find((s) => s.replies.length > 0 && !s.continuing && texts.some((t) => t.includes(s.match)));
    if (!script) return { text: "OK." };
    const reply = script.replies.shift()!;
    script.continuing = "bash" in reply && script.replies.length > 0;
    return reply;
  }

  private answerClaude(res: ServerResponse, body: any, reply: Reply): void {
    const id = `msg_fake_${++this.ids}`;
    const model = body?.model ?? "claude-fake";
    const usage = { input_tokens: 10, output_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
    const block =
      "bash" in reply
        ? { type: "tool_use", id: `toolu_fake_${this.ids}`, name: "Bash", input: { command: reply.bash, description: "Run a command" } }
        : { type: "text", text: reply.text };
    const stopReason = "bash" in reply ? "tool_use" : "end_turn";
    if (!body?.stream) {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ id, type: "message", role: "assistant", model, content: [block], stop_reason: stopReason, stop_sequence: null, usage }));
      return;
    }
    res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
    const send = (type: string, data: Record<string, unknown>) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
    send("message_start", { message: { id, type: "message", role: "assistant", model, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } } });
    if (block.type === "text") {
      send("content_block_start", { index: 0, content_block: { type: "text", text: "" } });
      send("content_block_delta", { index: 0, delta: { type: "text_delta", text: block.text } });
    } else {
      send("content_block_start", { index: 0, content_block: { ...block, input: {} } });
      send("content_block_delta", { index: 0, delta: { type: "input_json_delta", partial_json: JSON.stringify(block.input) } });
    }
    send("content_block_stop", { index: 0 });
    send("message_delta", { delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: 5 } });
    send("message_stop", {});
    res.end();
  }

  /** Responses API events; a text answer (a tool call is answered as text too). */
  private answerCodex(res: ServerResponse, reply: Reply): void {
    const n = ++this.ids;
    const text = "text" in reply ? reply.text : `(no tools here) ${reply.bash}`;
    const item = { type: "message", role: "assistant", id: `msg_fake_${n}`, status: "completed", content: [{ type: "output_text", text, annotations: [] }] };
    res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
    const send = (type: string, data: Record<string, unknown>) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
    send("response.created", { response: { id: `resp_fake_${n}` } });
    send("response.output_item.added", { output_index: 0, item: { ...item, status: "in_progress", content: [] } });
    send("response.output_text.delta", { output_index: 0, content_index: 0, item_id: item.id, delta: text });
    send("response.output_item.done", { output_index: 0, item });
    send("response.completed", {
      response: { id: `resp_fake_${n}`, usage: { input_tokens: 10, input_tokens_details: null, output_tokens: 5, output_tokens_details: null, total_tokens: 15 } },
    });
    res.end();
  }
}

/**
 * A turn of the conversation, not a side request (a title, a summary): claude
 * sends its tools with every turn and none with side requests; codex asks for
 * structured output (`text.format`) in its side requests only.
 */
function isTurn(path: string, body: any): boolean {
  if (path === "/v1/messages") return (body?.tools?.length ?? 0) > 0;
  if (path === "/v1/responses") return body !== undefined && !body.text?.format;
  return false;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    req.setEncoding("utf8").on("data", (c: string) => (text += c));
    req.on("end", () => resolve(text)).on("error", reject);
  });
}

function lastUserMessage(messages: unknown): any {
  return Array.isArray(messages) ? messages.filter((m) => m?.role === "user").at(-1) : undefined;
}

/** The user's own texts in a message (Anthropic `text` blocks, Responses `input_text` parts, or a plain string). */
function userTexts(message: any): string[] {
  const content = message?.content;
  if (typeof content === "string") return [content];
  if (!Array.isArray(content)) return [];
  return content.filter((b: any) => b?.type === "text" || b?.type === "input_text").map((b: any) => String(b.text));
}
