import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { request } from "node:http";
import { CLI, type TestHome } from "./env.js";
import { freePort } from "./net.js";
import { waitFor } from "./wait.js";

/**
 * Our relay as a real process (`relay --port <p> --data-dir <d>`), with a
 * token it is given in AGENT_RELAY_TOKEN (never on its command line). It can
 * be killed with -9 and started again on the same port and data dir.
 * Requests go on a fresh connection each: none may outlive a restart.
 */
export class RelayProcess {
  readonly token = randomBytes(24).toString("hex");
  readonly logs: string[] = [];
  private port = 0;
  private child?: ChildProcess;
  private exited?: Promise<unknown>;

  constructor(
    private readonly home: TestHome,
    readonly dataDir: string,
    /** More environment for the relay (a config file, say). */
    private readonly env: Record<string, string> = {},
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts the relay, on the port it had before if it ran already, and waits until it answers. */
  async start(): Promise<this> {
    this.port ||= await freePort();
    const child = spawn(process.execPath, [CLI, "relay", "--port", String(this.port), "--data-dir", this.dataDir], {
      cwd: this.home.home,
      env: this.home.env({ ...this.env, AGENT_RELAY_TOKEN: this.token }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    const from = this.logs.length;
    this.exited = new Promise((resolve) => child.on("exit", resolve));
    for (const stream of [child.stdout!, child.stderr!]) {
      stream.setEncoding("utf8").on("data", (chunk: string) => this.logs.push(...chunk.split("\n").filter(Boolean)));
    }
    await waitFor("the relay to listen", () => this.logs.slice(from).some((l) => l.startsWith(`relay ${this.url}`)) || child.exitCode !== null, 30_000);
    if (child.exitCode !== null) throw new Error(`the relay exited (${child.exitCode}): ${this.logs.slice(from).join("\n")}`);
    return this;
  }

  /** Kills the relay with SIGKILL (no chance to flush or close anything) and waits for it to be gone. */
  async kill9(): Promise<void> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill("SIGKILL");
    await this.exited;
  }

  /** One request to the relay's API, with its token; the status and the parsed body. */
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    return new Promise((resolve, reject) => {
      const req = request(
        `${this.url}/api${path}`,
        { method, agent: false, headers: { "Content-Type": "application/json", "X-Agent-Relay-Token": this.token } },
        (res) => {
          let text = "";
          res.on("data", (c: Buffer) => (text += c.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
        },
      );
      req.on("error", reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  /** Sends a control to orchestrator `host`; its message id. */
  async sendControl(host: string, control: Record<string, unknown>): Promise<number> {
    const { status, body } = await this.call("POST", "/messages", { to: `orchestrator-${host}`, kind: "control", body: "", payload: { orchestratorControl: control } });
    if (status !== 200 && status !== 201) throw new Error(`sending a control: ${status} ${JSON.stringify(body)}`);
    return (body as { id: number }).id;
  }

  /** The stored answer to a message, undefined while there is none. */
  async result(id: number): Promise<Record<string, any> | undefined> {
    const { status, body } = await this.call("GET", `/messages/${id}/result`);
    return status === 200 ? body : undefined;
  }
}
