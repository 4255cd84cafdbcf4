import { execFile, spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { CLI, type TestHome } from "./env.js";
import type { TestTmux } from "./tmux.js";
import { waitFor } from "./wait.js";

const run = promisify(execFile);

/** `agent-relay-orchestrator up` as a child process, on a free port, with its own dirs and tmux socket. */
export class TestUp {
  readonly logs: string[] = [];
  url = "";
  private child?: ChildProcess;
  private exited?: Promise<number | null>;

  constructor(
    private readonly home: TestHome,
    private readonly tmux: TestTmux,
    private readonly extraEnv: Record<string, string> = {},
  ) {}

  env(): NodeJS.ProcessEnv {
    return this.home.env({
      AGENT_RELAY_ORCHESTRATOR_ID: "box",
      AGENT_RELAY_ORCHESTRATOR_BASE_DIR: this.home.baseDir,
      AGENT_RELAY_ORCHESTRATOR_STATE_DIR: this.home.stateDir,
      AGENT_RELAY_ORCHESTRATOR_TMUX_SOCKET: this.tmux.socketName,
      ...(this.url ? { AGENT_RELAY_URL: this.url } : {}),
      ...this.extraEnv,
    });
  }

  /** The pid of the `up` process. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The token file `up` keeps when no token is configured. */
  get tokenFile(): string {
    return join(this.home.home, ".agent-relay", "relay", "token");
  }

  async start(args: string[] = []): Promise<this> {
    // The relay's data dir is the default one (under this test's HOME), where the CLI finds its token.
    const child = spawn(process.execPath, [CLI, "up", "--port", "0", ...args], {
      cwd: this.home.root,
      env: this.env(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    this.exited = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
    child.stderr!.setEncoding("utf8").on("data", (c: string) => this.logs.push(...c.split("\n").filter(Boolean)));
    let out = "";
    child.stdout!.setEncoding("utf8").on("data", (c: string) => (out += c));
    this.url = (await waitFor("up to print its relay URL", () => out.match(/^relay (http:\/\/\S+)$/m)?.[1], 30_000)) as string; // generous: a busy machine
    await waitFor("the daemon to register", () => this.logs.some((l) => /registered as box/.test(l)), 30_000);
    return this;
  }

  /** Runs a CLI command against this relay. */
  async cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { cwd: this.home.root, env: { ...this.env(), ...env } });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  /** Stops `up` as Ctrl-C does (SIGINT; the agents keep running), and answers its exit code. */
  async interrupt(): Promise<number | null | undefined> {
    this.child?.kill("SIGINT");
    return this.exited;
  }

  async stop(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill("SIGKILL");
      await this.exited;
    }
  }
}
