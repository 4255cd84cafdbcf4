import { execFile, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { CLI, ROOT, TestHome } from "../support/env.js";
import { freePort } from "../support/net.js";
import { TestTmux } from "../support/tmux.js";
import { TestUp } from "../support/up.js";
import { waitFor } from "../support/wait.js";

// Each test starts `up` (some twice) and drives the CLI many times: slow on a busy machine.
vi.setConfig({ testTimeout: 120_000 });

const run = promisify(execFile);
const uid = process.getuid?.() ?? 0;
let home: TestHome;
let tmux: TestTmux;
let config: string;
const ups: TestUp[] = [];

beforeEach(() => {
  home = new TestHome();
  tmux = new TestTmux();
  // what a root user who means it puts in the config; tests run as root
  config = join(home.root, "orchestrator.config.json");
  writeFileSync(config, JSON.stringify({ env: { IS_SANDBOX: "1", FAKE_CLAUDE_TRANSCRIPT: home.transcript } }));
});
afterEach(async () => {
  for (const up of ups.splice(0)) await up.stop();
  tmux.kill();
  home.remove();
});

const contextFile = () => join(home.home, ".agent-relay", "context.json");

/** `up` for this test, with the daemon's own settings in its environment (the second terminal has none of them). */
function startUp(env: Record<string, string> = {}): Promise<TestUp> {
  const up = new TestUp(home, tmux, { AGENT_RELAY_ORCHESTRATOR_CONFIG: config, ...env });
  ups.push(up);
  return up.start();
}

/**
 * A second terminal: this user's HOME and PATH, nothing else; no relay URL,
 * token, config, id or tmux socket. (TMUX_TMPDIR points at a directory of
 * the test's own, so a command that did not find the daemon's socket could
 * not reach a tmux server outside the test either.)
 */
async function terminal(args: string[], cwd: string, env: Record<string, string> = {}) {
  const base = { HOME: home.home, PATH: process.env.PATH ?? "/usr/bin:/bin", TMUX_TMPDIR: join(home.root, "elsewhere") };
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { cwd, env: { ...base, ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("one local context: `up` in one terminal, any command in another", () => {
  it("ps, spawn, logs and attach find the daemon from any directory with no flags or env; flags and env still win", async () => {
    const up = await startUp();
    expect(up.logs.some((l) => l.endsWith(`INFO config: ${config}`))).toBe(true);

    // The context: owner-only, in an owner-only directory, naming the token's file but not the token.
    const file = contextFile();
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(dirname(file)).mode & 0o777).toBe(0o700);
    const text = readFileSync(file, "utf8");
    expect(JSON.parse(text)).toEqual({
      pid: up.pid,
      startedAt: expect.any(Number),
      command: "up",
      id: "box",
      relayUrl: up.url,
      tokenFile: up.tokenFile,
      configFile: config,
      tmuxSocket: join("/tmp", `tmux-${uid}`, tmux.socketName),
    });
    expect(text).not.toContain(readFileSync(up.tokenFile, "utf8").trim());

    const ps = await terminal(["ps"], "/");
    expect(ps).toMatchObject({ code: 0, stderr: "" });
    expect(ps.stdout).toMatch(/^box\s+online\s/m);

    const spawned = await terminal(["spawn", "claude", "--label", "ctx", "--prompt", "hi", "--wait"], home.project);
    expect(spawned).toMatchObject({ code: 0, stderr: "" });
    expect(spawned.stdout).toMatch(/^box: spawned ar-claude-ctx\n/);
    expect(tmux.sessions()).toEqual(["ar-claude-ctx"]);
    await waitFor("the agent's screen in logs, from another directory", async () => (await terminal(["logs", "ctx"], "/")).stdout.includes("> hi"));

    const outer = new TestTmux();
    try {
      const bare = ["env", "-i", `HOME=${home.home}`, `PATH=${process.env.PATH}`, "TERM=tmux-256color", process.execPath, CLI, "attach", "ctx"];
      outer.run("new-session", "-d", "-s", "term", "-x", "200", "-y", "50", "-c", "/", "--", ...bare);
      await waitFor("the agent's screen in the attached terminal", () => outer.capture("term").includes("> hi"));
    } finally {
      outer.kill();
    }

    // A flag or a variable wins over the context, and an error names the URL it tried and where it came from.
    const port = await freePort();
    const viaEnv = await terminal(["ps"], "/", { AGENT_RELAY_URL: `http://127.0.0.1:${port}` });
    expect(viaEnv.code).toBe(1);
    expect(viaEnv.stderr).toContain(`cannot reach the relay at http://127.0.0.1:${port} (from environment variable AGENT_RELAY_URL): GET /orchestrators: ECONNREFUSED`);
    const viaFlag = await terminal(["ps", "--relay-url", `http://127.0.0.1:${port}`], "/");
    expect(viaFlag.stderr).toContain(`cannot reach the relay at http://127.0.0.1:${port} (from command-line flag --relay-url)`);

    // A directory with a config file of its own (a project, this repository): the daemon's config is the one that counts.
    const project = join(home.root, "project");
    mkdirSync(project);
    writeFileSync(join(project, "orchestrator.config.json"), JSON.stringify({ relayUrl: `http://127.0.0.1:${port}` }));
    expect((await terminal(["ps"], project)).code).toBe(0);
    expect(JSON.parse((await terminal(["config", "--json"], project)).stdout).configFile).toBe(config);
  });

  it("is removed when the daemon stops, so the next command says no daemon runs; a daemon that died leaves a context that is ignored and named", async () => {
    const up = await startUp();
    expect(existsSync(contextFile())).toBe(true);
    expect(await up.interrupt()).toBe(0);
    expect(existsSync(contextFile())).toBe(false);

    // The second terminal's own config names a relay where nothing listens.
    const port = await freePort();
    const own = join(home.home, ".agent-relay", "orchestrator.config.json");
    writeFileSync(own, JSON.stringify({ relayUrl: `http://127.0.0.1:${port}` }), { mode: 0o600 });
    const ps = await terminal(["ps"], "/");
    expect(ps.code).toBe(1);
    expect(ps.stderr).toContain(
      `cannot reach the relay at http://127.0.0.1:${port} (from ${own}, and no daemon is running on this host: ${contextFile()} does not exist; start one with \`agent-relay-orchestrator up\`)`,
    );
    const logs = await terminal(["logs", "anything"], "/");
    expect(logs.code).toBe(1);
    expect(logs.stderr).toContain(`no agent "anything" on this host; no daemon is running on this host: ${contextFile()} does not exist`);

    const killed = await startUp();
    const pid = killed.pid;
    await killed.stop(); // SIGKILL: no chance to clean up
    expect(existsSync(contextFile())).toBe(true);
    const stale = await terminal(["ps"], "/");
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain(`no daemon is running on this host: ${contextFile()} names pid ${pid}, which is no longer running (that daemon did not stop cleanly)`);
  });
});

describe("agents live on the daemon's own tmux server", () => {
  it("a daemon started inside the user's tmux keeps its agents off that server, and one started outside tmux adopts them", async () => {
    const user = new TestTmux();
    user.run("new-session", "-d", "-s", "mine");
    const userSocket = user.run("display-message", "-p", "#{socket_path}").trim();
    const userServer = user.run("display-message", "-p", "#{pid}").trim();
    const tmuxDir = join(home.root, "tmux");
    mkdirSync(tmuxDir, { mode: 0o700 });
    const own = join(tmuxDir, `tmux-${uid}`, "agent-relay");
    const sessionsOn = (socket: string) => {
      try {
        return execFileSync("tmux", ["-S", socket, "list-sessions", "-F", "#{session_name}"], { encoding: "utf8" }).split("\n").filter(Boolean);
      } catch {
        return [];
      }
    };
    // No socket configured: the daemon's default. TMUX_TMPDIR keeps that default inside this test.
    const daemonEnv = { AGENT_RELAY_ORCHESTRATOR_TMUX_SOCKET: "", TMUX_TMPDIR: tmuxDir };
    try {
      const inside = await startUp({ ...daemonEnv, TMUX: `${userSocket},${userServer},0`, TMUX_PANE: "%0" });
      expect(JSON.parse(readFileSync(contextFile(), "utf8")).tmuxSocket).toBe(own);
      expect((await terminal(["spawn", "claude", "--label", "inner", "--prompt", "hi", "--wait"], home.project)).code).toBe(0);
      expect(user.sessions()).toEqual(["mine"]);
      expect(sessionsOn(own)).toEqual(["ar-claude-inner"]);
      const before = JSON.parse((await terminal(["ps", "--json"], "/")).stdout)[0].agents[0];
      expect(before).toMatchObject({ tmuxSession: "ar-claude-inner", status: "ready" });

      expect(await inside.interrupt()).toBe(0); // the agents keep running
      await startUp(daemonEnv); // no $TMUX this time
      await waitFor("the agent adopted by the new daemon", async () => {
        const agents = JSON.parse((await terminal(["ps", "--json"], "/")).stdout)[0]?.agents ?? [];
        return agents.length === 1 && agents[0].pid === before.pid && agents[0].status === "ready";
      });
      expect(sessionsOn(own)).toEqual(["ar-claude-inner"]);
      // The second terminal has another TMUX_TMPDIR: the socket comes from the context.
      expect((await terminal(["logs", "inner"], "/")).stdout).toContain("> hi");
    } finally {
      for (const up of ups.splice(0)) await up.stop();
      try {
        execFileSync("tmux", ["-S", own, "kill-server"], { stdio: "ignore" });
      } catch {
        // no server
      }
      user.kill();
    }
  });
});

describe("config that is obvious", () => {
  it("the repository's example is never loaded by accident, and still loads when named", async () => {
    const inRepo = await terminal(["config", "--json"], ROOT);
    expect(inRepo.code).toBe(0);
    expect(JSON.parse(inRepo.stdout).configFile).toBeNull();
    const named = await terminal(["config", "--json", "--config", "orchestrator.config.example.ts"], ROOT);
    expect(named.code).toBe(0);
    expect(JSON.parse(named.stdout).configFile).toBe(join(ROOT, "orchestrator.config.example.ts"));
  });

  it("run says at start which config file it loaded, or that it loaded none", async () => {
    const port = await freePort();
    const env = { ...home.env(), AGENT_RELAY_URL: `http://127.0.0.1:${port}`, AGENT_RELAY_TOKEN: "token-of-sixteen-chars", AGENT_RELAY_ORCHESTRATOR_TMUX_SOCKET: tmux.socketName };
    const firstLine = async (cwd: string) => {
      const child = spawn(process.execPath, [CLI, "run"], { cwd, env, stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      child.stderr.setEncoding("utf8").on("data", (c: string) => (err += c));
      try {
        const line = await waitFor("the first log line", () => (err.includes("\n") ? err.slice(0, err.indexOf("\n")) : undefined));
        return line.replace(/^\S+ /, ""); // without its time
      } finally {
        child.kill("SIGKILL");
        await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.on("exit", r)));
      }
    };
    expect(await firstLine(home.root)).toBe(`INFO config: ${config}`); // found in the working directory
    expect(await firstLine(home.home)).toBe("INFO config: no config file (defaults, environment and flags only)");
  });
});
