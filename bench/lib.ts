/**
 * Shared pieces of the benchmarks: an isolated place per run (temp dirs,
 * its own tmux socket, loopback ports), daemons as real CLI processes, and
 * the figures. Everything a scenario starts, it stops.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const CLI = join(ROOT, "dist", "cli", "main.js");
export const FAKE_BIN = join(ROOT, "test", "fixtures", "bin");
export const QUICK = process.argv.includes("--quick");

export interface Row {
  scenario: string;
  figure: string;
  value: string;
  target: string;
  met: boolean | undefined;
}

/** A throw-away host: HOME with claude's first run settled (unless told), a baseDir, and its own tmux socket. */
export class BenchHost {
  readonly root = realpathSync(mkdtempSync(join(tmpdir(), "aro-bench-")));
  readonly home = join(this.root, "home");
  readonly baseDir = join(this.root, "projects");
  readonly socket = `arobench-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  private readonly children: ChildProcess[] = [];
  private readonly sockets = new Set<string>([this.socket]);

  constructor(options: { trustClaude?: boolean } = {}) {
    mkdirSync(join(this.home, ".claude"), { recursive: true });
    mkdirSync(join(this.home, ".codex"), { recursive: true });
    mkdirSync(this.baseDir, { recursive: true });
    const projects = options.trustClaude === false ? {} : { [this.baseDir]: { hasTrustDialogAccepted: true } };
    writeFileSync(join(this.home, ".claude.json"), JSON.stringify({ hasCompletedOnboarding: true, projects }));
    if (options.trustClaude !== false) writeFileSync(join(this.home, ".claude", "settings.json"), JSON.stringify({ skipDangerousModePermissionPrompt: true }));
    writeFileSync(join(this.home, ".codex", "auth.json"), "{}");
  }

  /**
   * Starts `agent-relay-orchestrator run` for orchestrator `id` against
   * `relayUrl`, on its own tmux socket; `config` is written as its config file.
   */
  daemon(id: string, relayUrl: string, config: Record<string, unknown> = {}, env: Record<string, string> = {}): ChildProcess {
    const socket = `${this.socket}-${id}`;
    this.sockets.add(socket);
    const file = join(this.root, `${id}.json`);
    writeFileSync(file, JSON.stringify({ env: { IS_SANDBOX: "1" }, logLevel: "warn", ...config }));
    const child = spawn(process.execPath, [CLI, "run"], {
      cwd: this.root,
      env: {
        HOME: this.home,
        PATH: `${FAKE_BIN}:${process.env.PATH}`,
        LANG: "C.UTF-8",
        AGENT_RELAY_URL: relayUrl,
        AGENT_RELAY_ORCHESTRATOR_ID: id,
        AGENT_RELAY_ORCHESTRATOR_BASE_DIR: this.baseDir,
        AGENT_RELAY_ORCHESTRATOR_CONFIG: file,
        AGENT_RELAY_ORCHESTRATOR_STATE_DIR: join(this.root, "state"),
        AGENT_RELAY_ORCHESTRATOR_TMUX_SOCKET: socket,
        ...env,
      },
      stdio: ["ignore", "ignore", "inherit"],
    });
    this.children.push(child);
    return child;
  }

  /** Starts any process that is stopped with the host. */
  track(child: ChildProcess): ChildProcess {
    this.children.push(child);
    return child;
  }

  tmux(id: string, ...args: string[]): string {
    return execFileSync("tmux", ["-L", `${this.socket}-${id}`, ...args], { encoding: "utf8" });
  }

  async close(): Promise<void> {
    for (const child of this.children) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await new Promise((r) => child.once("exit", r));
      }
    }
    for (const socket of this.sockets) {
      try {
        execFileSync("tmux", ["-L", socket, "kill-server"], { stdio: "ignore" });
      } catch {
        // not running
      }
    }
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** Polls `check` every `everyMs` until it is truthy; throws after `timeoutMs`. */
export async function until<T>(what: string, check: () => T | Promise<T>, timeoutMs = 30_000, everyMs = 2): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export const ms = (n: number) => `${n.toFixed(0)} ms`;

/** Resident memory (kB) and CPU time (ms) of a process, from /proc. */
export function usage(pid: number): { rssKb: number; cpuMs: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rssKb = Number(status.match(/VmRSS:\s+(\d+)/)?.[1] ?? 0);
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
  return { rssKb, cpuMs: (ticks * 1000) / 100 };
}

/** The agent process under a session's wrapper (the wrapper's first child). */
export function agentPid(wrapperPid: number): number | undefined {
  try {
    const child = readFileSync(`/proc/${wrapperPid}/task/${wrapperPid}/children`, "utf8").trim().split(" ")[0];
    return child ? Number(child) : undefined;
  } catch {
    return undefined;
  }
}
