import { spawn } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { CLI, TestHome } from "../support/env.js";
import { TestTmux } from "../support/tmux.js";
import { freePort } from "../support/net.js";
import { TestUp } from "../support/up.js";
import { waitFor } from "../support/wait.js";

// Each test drives the CLI many times against one `up`: slow on a busy machine.
vi.setConfig({ testTimeout: 120_000 });

let home: TestHome;
let tmux: TestTmux;
let up: TestUp;

beforeEach(async () => {
  home = new TestHome();
  tmux = new TestTmux();
  // what a root user who means it puts in the config; tests run as root
  up = new TestUp(home, tmux, { AGENT_RELAY_ORCHESTRATOR_CONFIG: writeConfig(home) });
  await up.start();
});
afterEach(async () => {
  await up.stop();
  tmux.kill();
  home.remove();
});

function writeConfig(h: TestHome): string {
  const file = `${h.root}/orchestrator.config.json`;
  writeFileSync(file, JSON.stringify({ env: { IS_SANDBOX: "1", FAKE_CLAUDE_TRANSCRIPT: h.transcript } }));
  return file;
}

describe("up: a relay and a daemon in one process, driven by the CLI", () => {
  it("uses long-poll against its own relay", () => {
    expect(up.logs.some((l) => /registered as box .*; long-poll$/.test(l))).toBe(true);
  });

  it("spawn --wait prints the agent record; ps, logs, restart and stop work on it", async () => {
    const spawned = await up.cli(["spawn", "claude", "--label", "Web UI", "--cwd", home.project, "--prompt", "hello", "--wait"]);
    expect(spawned).toMatchObject({ code: 0, stderr: "" });
    expect(spawned.stdout).toMatch(/^box: spawned ar-claude-web-ui\n  ar-claude-web-ui  claude  Web UI  ready  pid \d+  .*\/projects\/app\n$/);

    const json = JSON.parse((await up.cli(["spawn", "codex", "--label", "coder", "--wait", "--json"])).stdout);
    expect(json).toMatchObject({ host: "box", ok: true, action: "spawn", agents: [{ tmuxSession: "ar-codex-coder", provider: "codex", label: "coder", status: "ready" }] });

    await waitFor("both agents in ps", async () => (await up.cli(["ps"])).stdout.includes("ar-codex-coder"));
    const ps = (await up.cli(["ps"])).stdout.split("\n");
    expect(ps[0]).toMatch(/^HOST\s+HOST STATE\s+SEEN\s+SESSION\s+PROVIDER\s+LABEL\s+STATE\s+SINCE\s+PID\s+STARTED\s+READY IN\s+RESTARTS\s+CWD$/);
    expect(ps.find((l) => l.includes("ar-claude-web-ui"))).toMatch(/^box\s+online\s+\d+s ago\s+ar-claude-web-ui\s+claude\s+Web UI\s+(?:idle|working)\s+\d+s ago\s+\d+\s+\d+s ago\s+\d+\.\ds\s+0\s+\S+\/projects\/app$/);
    const hosts = JSON.parse((await up.cli(["ps", "--json"])).stdout);
    expect(hosts).toEqual([expect.objectContaining({ id: "box", online: true, agents: expect.arrayContaining([expect.objectContaining({ label: "Web UI" })]) })]);

    await waitFor("claude's ready screen in logs", async () => (await up.cli(["logs", "Web UI", "--lines", "20"])).stdout.includes("> hello"));

    const restarted = await up.cli(["restart", "Web UI"]);
    expect(restarted).toMatchObject({ code: 0 });
    expect(restarted.stdout).toMatch(/^box: restarted ar-claude-web-ui\n/);

    expect(await up.cli(["stop", "ar-codex-coder"])).toMatchObject({ code: 0, stdout: "box: stopped ar-codex-coder\n" });
    expect(tmux.sessions()).toEqual(["ar-claude-web-ui"]);
    expect((await up.cli(["stop", "--all"])).stdout).toBe("box: stopped ar-claude-web-ui\n");
    expect(tmux.sessions()).toEqual([]);
  });

  it("logs --follow prints what the agent shows next", async () => {
    await up.cli(["spawn", "claude", "--label", "chatty", "--prompt", "first", "--wait"]);
    await waitFor("the first prompt on screen", async () => (await up.cli(["logs", "chatty"])).stdout.includes("> first"));
    const follow = spawn(process.execPath, [CLI, "logs", "chatty", "--follow", "--lines", "5"], { cwd: home.root, env: up.env() });
    let out = "";
    follow.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
    try {
      await waitFor("the initial lines", () => out.includes("? for shortcuts"));
      expect(out).not.toContain("> second");
      tmux.run("send-keys", "-t", "=ar-claude-chatty:", "-l", "second");
      tmux.run("send-keys", "-t", "=ar-claude-chatty:", "Enter");
      await waitFor("the new exchange in the followed output", () => out.includes("> second"));
    } finally {
      follow.kill();
    }
  });

  it("doctor checks tmux, the providers' binaries, the relay and its token, baseDir and the root caveat", async () => {
    const good = await up.cli(["doctor"]);
    expect(good.code).toBe(0);
    const lines = good.stdout.trim().split("\n");
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^OK    tmux: tmux 3\.\d+\S* \(socket -L arotest-/),
        expect.stringMatching(/^OK    relay: http:\/\/127\.0\.0\.1:\d+ answers; it accepts the token$/),
        `OK    baseDir: ${home.baseDir}`,
        expect.stringMatching(/^OK    provider claude: claude: 2\.1\.197 \(Claude Code\)$/),
        expect.stringMatching(/^OK    provider codex: codex: codex-cli 0\.169\.0$/),
      ]),
    );
    if (process.getuid?.() === 0) expect(lines).toContain("OK    claude as root: running as root with IS_SANDBOX=1 in env: claude accepts --dangerously-skip-permissions");

    const bad = await up.cli(["doctor"], {
      AGENT_RELAY_URL: `http://127.0.0.1:${await freePort()}`,
      AGENT_RELAY_ORCHESTRATOR_BASE_DIR: `${home.root}/nowhere`,
      AGENT_RELAY_ORCHESTRATOR_CONFIG: `${home.root}/none.json`,
      PATH: "/usr/bin:/bin",
    });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^FAIL  relay: http:\/\/127\.0\.0\.1:\d+ is not reachable: GET \/messages\/cursor: ECONNREFUSED$/m);
    expect(bad.stdout).toContain(`FAIL  baseDir: ${home.root}/nowhere does not exist: create it, or set baseDir\n`);
    expect(bad.stdout).toContain('FAIL  provider claude: "claude" is not installed or not in PATH\n');
    if (process.getuid?.() === 0) expect(bad.stdout).toMatch(/^FAIL  claude as root: running as root: claude exits at once with --dangerously-skip-permissions unless IS_SANDBOX=1/m);
  });

  it("runs with a token of its own, kept owner-only, required of every request, and found by the CLI in a second terminal", async () => {
    const file = up.tokenFile;
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(dirname(file)).mode & 0o777).toBe(0o700);
    const token = readFileSync(file, "utf8").trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(up.logs).toContainEqual(expect.stringContaining(`relay token in ${file} (owner-only`));
    expect(up.logs.join("\n")).not.toContain(token);

    // what a web page can send: no token, or text/plain; refused, and nothing starts
    const spawn = JSON.stringify({ to: "orchestrator-box", kind: "control", payload: { orchestratorControl: { action: "spawn", provider: "claude", label: "pwned" } } });
    const noToken = await fetch(`${up.url}/api/messages`, { method: "POST", headers: { "Content-Type": "application/json" }, body: spawn });
    expect(noToken.status).toBe(401);
    const textPlain = await fetch(`${up.url}/api/messages`, { method: "POST", headers: { "Content-Type": "text/plain", "X-Agent-Relay-Token": token }, body: spawn });
    expect(textPlain.status).toBe(415);

    // a second terminal: same HOME, no token anywhere in its env or flags
    expect(up.env().AGENT_RELAY_TOKEN).toBeUndefined();
    const ps = await up.cli(["ps"]);
    expect(ps).toMatchObject({ code: 0, stderr: "" });
    expect(ps.stdout).toMatch(/^box\s+online\s/m);
    expect(tmux.sessions()).toEqual([]);

    // started again, it keeps the same token
    await up.stop();
    up = await new TestUp(home, tmux, { AGENT_RELAY_ORCHESTRATOR_CONFIG: `${home.root}/orchestrator.config.json` }).start();
    expect(readFileSync(file, "utf8").trim()).toBe(token);
    expect((await up.cli(["ps"])).code).toBe(0);
  });

  it("refuses to start with a configured token that is too short, naming where it came from", async () => {
    const short = await up.cli(["relay", "--port", "0"], { AGENT_RELAY_TOKEN: "too-short" });
    expect(short).toMatchObject({ code: 2, stderr: expect.stringContaining("environment variable AGENT_RELAY_TOKEN: token: the relay needs a token of 16 characters or more") });
    expect(short.stderr).not.toContain("too-short");
  });

  it("says clearly what is wrong, with a non-zero exit code", async () => {
    expect(await up.cli(["spawn", "gemini"])).toMatchObject({ code: 1, stderr: 'error: no online host offers provider "gemini" (box: claude, codex)\n' });
    expect(await up.cli(["spawn", "claude", "--host", "elsewhere"])).toMatchObject({ code: 1, stderr: 'error: no host "elsewhere" on this relay (hosts: box)\n' });
    expect(await up.cli(["stop", "ghost"])).toMatchObject({ code: 1, stderr: 'error: no agent matches "ghost" (no agents are running)\n' });
    expect(await up.cli(["restart", "ghost"])).toMatchObject({ code: 1 });
    expect((await up.cli(["logs", "ghost"])).stderr).toMatch(/^error: no agent "ghost" on this host/);
    expect((await up.cli(["attach", "ghost"])).code).toBe(1);
    expect(await up.cli(["ps"], { AGENT_RELAY_URL: `http://127.0.0.1:${await freePort()}` })).toMatchObject({ code: 1, stderr: expect.stringMatching(/^error: cannot reach the relay at http:\/\/127\.0\.0\.1:\d+ \(from environment variable AGENT_RELAY_URL\): GET \/orchestrators: ECONNREFUSED/) });
    expect((await up.cli(["spawn"])).code).toBe(2);
  });

  it("attach puts a terminal into the agent's session", async () => {
    await up.cli(["spawn", "claude", "--label", "viewer", "--prompt", "look at me", "--wait"]);
    const outer = new TestTmux();
    try {
      const env = Object.entries(up.env()).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
      outer.run("new-session", "-d", "-s", "term", "-x", "200", "-y", "50", ...env, "--", process.execPath, CLI, "attach", "viewer");
      await waitFor("the agent's screen in the attached terminal", () => outer.capture("term").includes("> look at me"));
    } finally {
      outer.kill();
    }
  });
});

// An agent that refuses to start (claude as root), seen from the CLI: test/integration/claude-first-run.test.ts.
