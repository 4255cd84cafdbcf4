import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AgentExit, ManagedAgent } from "../../core/index.js";
import { FAKE_BIN, TestHome } from "../support/env.js";
import { createTestOrchestrator } from "../support/orchestrator.js";
import { shellProvider } from "../support/providers.js";
import { TestTmux } from "../support/tmux.js";
import { waitFor } from "../support/wait.js";

let home: TestHome;
let tmux: TestTmux;
const running: Array<{ stop(o?: { stopAgents?: boolean }): Promise<void> }> = [];

beforeEach(() => {
  home = new TestHome();
  tmux = new TestTmux();
});
afterEach(async () => {
  for (const o of running.splice(0)) await o.stop();
  tmux.kill();
  home.remove();
});

async function start(extra: Record<string, unknown> = {}, env: Record<string, string> = {}) {
  const harness = await createTestOrchestrator(
    home,
    { providers: ["claude", "codex", "shell"], env: { IS_SANDBOX: "1", FAKE_CLAUDE_TRANSCRIPT: home.transcript, FAKE_CODEX_TRANSCRIPT: home.transcript }, tmux: { socketName: tmux.socketName }, plugins: [shellProvider], disablePlugins: ["relay-http"], ...extra },
    { env },
  );
  running.push(harness.orchestrator);
  return harness;
}

function transcript(): Array<Record<string, unknown>> {
  if (!existsSync(home.transcript)) return [];
  return readFileSync(home.transcript, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

function sessionMeta(session: string): Record<string, unknown> {
  return JSON.parse(tmux.run("show-options", "-v", "-t", `=${session}:`, "@ar_meta").trim()) as Record<string, unknown>;
}

describe("tmux backend", () => {
  it("starts claude in a session named as 0.9.0 did, with the prompt as its argument, and records exact metadata", async () => {
    const { orchestrator } = await start();
    await orchestrator.start();
    const { agent } = await orchestrator.spawn({ label: "Backend API", cwd: home.project, prompt: "fix the tests", approvalMode: "full" });
    expect(agent.session).toBe("ar-claude-backend-api");
    expect(tmux.sessions()).toEqual(["ar-claude-backend-api"]);
    await waitFor("claude to be ready with the prompt", () => transcript().some((e) => e.event === "prompt" && e.text === "fix the tests"));
    const startEvent = transcript().find((e) => e.event === "start")!;
    const args = startEvent.args as string[];
    expect(args.filter((_, i) => i !== 1)).toEqual(["--settings", "--dangerously-skip-permissions", "--", "fix the tests"]);
    expect(JSON.parse(args[1]!)).toMatchObject({ skipDangerousModePermissionPrompt: true, hooks: { Stop: expect.any(Array) } });
    expect(startEvent.cwd).toBe(home.project);
    expect(sessionMeta("ar-claude-backend-api")).toMatchObject({
      v: 1,
      orchestratorId: "test",
      provider: "claude",
      label: "Backend API",
      cwd: home.project,
      approvalMode: "full",
      prompt: "fix the tests",
      startedAt: agent.startedAt,
    });
    expect(agent.pid).toBeGreaterThan(0);
    // the env file the wrapper read is gone
    expect(readdirSync(join(home.stateDir, "spawn"))).toEqual([]);
  });

  it("keeps quotes, $(), backticks, ';', '#' and newlines inert in label, prompt and cwd", async () => {
    const pwned = join(home.root, "pwned");
    // tmux expands formats in -c: unescaped, this name would become another directory
    const hostileDir = join(home.baseDir, "#{session_name} #(echo hi) $(echo hi) `echo hi` x;\ntouch pwned;");
    mkdirSync(hostileDir);
    const { orchestrator } = await start();
    await orchestrator.start();
    const label = `x'; touch ${pwned}; echo '\`touch ${pwned}\`;`;
    const prompt = `$(touch ${pwned}) \`touch ${pwned}\` "; touch ${pwned}; #{session_name} ;\ntouch ${pwned}\n; touch ${pwned}`;
    const { agent } = await orchestrator.spawn({ label, prompt, cwd: hostileDir });
    await waitFor("the prompt to arrive", () => transcript().some((e) => e.event === "prompt"));
    const events = transcript();
    expect(events.find((e) => e.event === "prompt")!.text).toBe(prompt);
    expect(events.find((e) => e.event === "start")!.cwd).toBe(hostileDir);
    expect((events.find((e) => e.event === "start")!.env as Record<string, string>).AGENT_RELAY_LABEL).toBe(label);
    expect(sessionMeta(agent.session)).toMatchObject({ label, prompt, cwd: hostileDir });
    expect(existsSync(pwned)).toBe(false);
  });

  it("gives the agent exactly the policy's environment: not the daemon's secrets, nor the tmux server's", async () => {
    const out = join(home.root, "env.txt");
    const { orchestrator } = await start({}, { DAEMON_ONLY_SECRET: "hunter2", ANTHROPIC_API_KEY: "sk-ant-allowed", LD_PRELOAD: "/evil.so" });
    await orchestrator.start();
    // a variable in the tmux server's own environment must not leak either
    tmux.run("new-session", "-d", "-s", "other", "sleep", "600");
    tmux.run("set-environment", "-g", "SERVER_SECRET", "from-tmux");
    await orchestrator.spawn({ provider: "shell", label: "env", prompt: JSON.stringify(["/bin/sh", "-c", `env > ${out}; exec sleep 600`]) });
    const env = Object.fromEntries(
      (await waitFor("env dump", () => (existsSync(out) && readFileSync(out, "utf8").includes("AGENT_RELAY_TAGS") ? readFileSync(out, "utf8") : "")))
        .trim()
        .split("\n")
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
    expect(env).toMatchObject({
      AGENT_RELAY_URL: "http://localhost:4850",
      AGENT_RELAY_LABEL: "env",
      AGENT_RELAY_APPROVAL: "guarded",
      AGENT_RELAY_TAGS: expect.stringMatching(/^headless,dashboard-spawned,.+/),
      ANTHROPIC_API_KEY: "sk-ant-allowed",
      IS_SANDBOX: "1",
      HOME: home.home,
    });
    expect(env.PATH!.split(":").slice(0, 4)).toEqual([join(home.home, ".local", "bin"), join(home.home, ".bun", "bin"), join(home.home, ".npm-global", "bin"), FAKE_BIN]);
    expect(env).not.toHaveProperty("DAEMON_ONLY_SECRET");
    expect(env).not.toHaveProperty("LD_PRELOAD");
    expect(env).not.toHaveProperty("SERVER_SECRET");
    expect(env).not.toHaveProperty("AGENT_RELAY_TOKEN");
  });

  it("notices an agent that exits, with its exit code and last lines, and reports it exited", async () => {
    // No safety-net look for a minute: the exit notice alone must tell.
    const { orchestrator } = await start({ watchIntervalMs: 60_000, exitedRetentionMs: 1_000 });
    const exits: Array<[ManagedAgent, AgentExit]> = [];
    orchestrator.hooks.onAgentExit.tap("test", (agent, exit) => void exits.push([agent, exit]));
    await orchestrator.start();
    await orchestrator.spawn({ provider: "shell", label: "crasher", prompt: JSON.stringify(["/bin/sh", "-c", "sleep 0.3; echo 'fatal: out of tokens'; exit 3"]) });
    await waitFor("the exit to be seen", () => exits.length === 1);
    expect(exits[0]![0].session).toBe("ar-shell-crasher");
    expect(exits[0]![1].code).toBe(3);
    expect(exits[0]![1].lastLines).toContain("fatal: out of tokens");
    expect(orchestrator.report()).toEqual([
      expect.objectContaining({ session: "ar-shell-crasher", status: "exited", exitCode: 3, detail: "exited with status 3: fatal: out of tokens", lastLines: ["fatal: out of tokens"] }),
    ]);
    // the dead session stays while the agent is reported exited
    expect(tmux.sessions()).toEqual(["ar-shell-crasher"]);
  });

  it("forgets an exited agent and its dead session after the retention time", async () => {
    const { orchestrator } = await start({ watchIntervalMs: 100, exitedRetentionMs: 1_000 });
    await orchestrator.start();
    await orchestrator.spawn({ provider: "shell", label: "brief", prompt: JSON.stringify(["/bin/sh", "-c", "exit 0"]) });
    await waitFor("the exit to be seen", () => orchestrator.report()[0]?.status === "exited");
    expect(tmux.sessions()).toEqual(["ar-shell-brief"]);
    await waitFor("the retention time to pass", () => orchestrator.report().length === 0 && tmux.sessions().length === 0, 15_000);
  });

  it("reports claude's own refusal line when it will not run as root without IS_SANDBOX", async (ctx) => {
    if (process.getuid?.() !== 0) ctx.skip();
    const { orchestrator } = await start({ env: {}, watchIntervalMs: 100 });
    const exits: AgentExit[] = [];
    orchestrator.hooks.onAgentExit.tap("test", (_agent, exit) => void exits.push(exit));
    await orchestrator.start();
    await expect(orchestrator.spawn({ label: "root" })).rejects.toThrow(
      "ar-claude-root exited with status 1 during start-up: --dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons",
    );
    expect(exits).toHaveLength(1);
    expect(exits[0]!.code).toBe(1);
    expect(exits[0]!.lastLines.join("\n")).toContain("cannot be used with root/sudo privileges");
  });

  it("lists every session in one tmux call, however many agents run", async () => {
    const log = join(home.root, "tmux-calls.log");
    const { orchestrator } = await start({ tmux: { socketName: tmux.socketName, bin: join(FAKE_BIN, "counting-tmux") }, watchIntervalMs: 60_000 });
    process.env.TMUX_CALL_LOG = log;
    try {
      await orchestrator.start();
      for (let i = 0; i < 5; i++) await orchestrator.spawn({ provider: "shell", label: `n${i}` });
      rmSync(log, { force: true });
      await orchestrator.watchOnce();
      expect(readFileSync(log, "utf8").trim().split("\n")).toEqual([expect.stringMatching(/ list-sessions /)]);
    } finally {
      delete process.env.TMUX_CALL_LOG;
    }
  });

  it("stops only the exact session, never one whose name merely starts the same", async () => {
    const { orchestrator } = await start();
    await orchestrator.start();
    const { agent } = await orchestrator.spawn({ provider: "shell", label: "a" });
    await orchestrator.spawn({ provider: "shell", label: "ab" });
    tmux.run("kill-session", "-t", "=ar-shell-a");
    await orchestrator.stopAgent(agent);
    expect(tmux.sessions()).toEqual(["ar-shell-ab"]);
  });

  it("refuses, once and for good, to start over a session of the same name that it does not manage, and leaves that session alone", async () => {
    const { orchestrator } = await start();
    await orchestrator.start();
    tmux.run("new-session", "-d", "-s", "ar-shell-taken", "sleep 600");
    const refused = await orchestrator.spawn({ provider: "shell", label: "taken" }).catch((err: unknown) => err);
    expect(refused).toMatchObject({
      code: "failed",
      retryable: false,
      message: "could not start ar-shell-taken: a session of that name exists that this orchestrator does not manage",
    });
    expect(tmux.sessions()).toEqual(["ar-shell-taken"]);
    expect(orchestrator.agents()).toEqual([]);
  });

  it("recovers its own sessions with all metadata after a restart, ignores other orchestrators', and takes 0.9.0's by name", async () => {
    const first = await start();
    await first.orchestrator.start();
    await first.orchestrator.spawn({ label: "Keep Me", cwd: home.project, prompt: "go", approvalMode: "full" });
    await first.orchestrator.spawn({ provider: "codex", label: "coder" });
    await first.orchestrator.stop();
    // a 0.9.0 session (no metadata) and a session of another orchestrator on the same socket
    tmux.run("new-session", "-d", "-s", "ar-claude-legacy", "-c", home.project, "sleep", "600");
    const other = await createTestOrchestrator(home, { id: "other", providers: ["shell"], tmux: { socketName: tmux.socketName }, plugins: [shellProvider], disablePlugins: ["relay-http"] });
    running.push(other.orchestrator);
    await other.orchestrator.spawn({ provider: "shell", label: "theirs" });

    const second = await start();
    await second.orchestrator.start();
    const agents = second.orchestrator.agents().sort((a, b) => a.session.localeCompare(b.session));
    expect(agents.map((a) => a.session)).toEqual(["ar-claude-keep-me", "ar-claude-legacy", "ar-codex-coder"]);
    expect(agents[0]).toMatchObject({ provider: "claude", label: "Keep Me", cwd: home.project, approvalMode: "full", prompt: "go" });
    expect(agents[1]).toMatchObject({ provider: "claude", label: "legacy", cwd: home.project, approvalMode: "guarded" });
    expect(agents[2]).toMatchObject({ provider: "codex", label: "coder", cwd: home.baseDir });
  });
});
