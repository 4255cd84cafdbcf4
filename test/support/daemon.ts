import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI, type TestHome } from "./env.js";
import type { TestTmux } from "./tmux.js";
import { waitFor } from "./wait.js";

export interface TestDaemonOptions {
  relayUrl: string;
  id?: string;
  token?: string;
  /** The JSON config file; its `env` is added to the fake CLIs' defaults (IS_SANDBOX, the transcript). */
  file?: Record<string, unknown>;
  env?: Record<string, string>;
  args?: string[];
}

/** The real CLI daemon as a child process, configured the 0.9.0 way: env vars plus a JSON file. */
export class TestDaemon {
  readonly logs: string[] = [];
  private child?: ChildProcess;
  private exited?: Promise<number | null>;

  constructor(
    private readonly home: TestHome,
    private readonly tmux: TestTmux,
    private readonly options: TestDaemonOptions,
  ) {}

  get id(): string {
    return this.options.id ?? "box";
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): this {
    const file = join(this.home.root, "orchestrator.json");
    writeFileSync(
      file,
      JSON.stringify({
        ...this.options.file,
        env: {
          IS_SANDBOX: "1",
          FAKE_CLAUDE_TRANSCRIPT: this.home.transcript,
          FAKE_CODEX_TRANSCRIPT: this.home.transcript,
          ...(this.options.file?.env as Record<string, string> | undefined),
        },
      }),
    );
    const child = spawn(process.execPath, [CLI, ...(this.options.args ?? [])], {
      cwd: this.home.root,
      env: this.home.env({
        AGENT_RELAY_URL: this.options.relayUrl,
        AGENT_RELAY_ORCHESTRATOR_ID: this.id,
        AGENT_RELAY_ORCHESTRATOR_BASE_DIR: this.home.baseDir,
        AGENT_RELAY_ORCHESTRATOR_PROVIDERS: "claude,codex",
        AGENT_RELAY_ORCHESTRATOR_CONFIG: file,
        AGENT_RELAY_ORCHESTRATOR_STATE_DIR: this.home.stateDir,
        AGENT_RELAY_ORCHESTRATOR_TMUX_SOCKET: this.tmux.socketName,
        AGENT_RELAY_ORCHESTRATOR_LOG_LEVEL: "debug",
        ...(this.options.token ? { AGENT_RELAY_TOKEN: this.options.token } : {}),
        ...this.options.env,
      }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    for (const stream of [child.stdout!, child.stderr!]) {
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => this.logs.push(...chunk.split("\n").filter(Boolean)));
    }
    this.exited = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
    return this;
  }

  /** Waits for a log line matching `pattern`. */
  waitForLog(pattern: RegExp, timeoutMs = 10_000): Promise<string> {
    return waitFor(`daemon log ${pattern}`, () => this.logs.find((l) => pattern.test(l)), timeoutMs);
  }

  /** Waits for the daemon to exit on its own; its exit code. */
  waitForExit(timeoutMs = 15_000): Promise<number | null> {
    return Promise.race([
      this.exited ?? Promise.resolve(null),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`the daemon did not exit within ${timeoutMs} ms`)), timeoutMs).unref()),
    ]);
  }

  kill9(): Promise<number | null> {
    this.child?.kill("SIGKILL");
    return this.exited ?? Promise.resolve(null);
  }

  async terminate(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return this.child?.exitCode ?? null;
    this.child.kill(signal);
    return this.exited!;
  }
}
