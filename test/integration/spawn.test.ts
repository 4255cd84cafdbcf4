import { execFile } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { TestDaemon } from "../support/daemon.js";
import { CLI, TestHome } from "../support/env.js";
import { RelayProcess } from "../support/relay-process.js";
import { TestTmux } from "../support/tmux.js";
import { waitFor } from "../support/wait.js";

// The real CLI against a real relay process and real daemons: slow on a busy machine.
vi.setConfig({ testTimeout: 120_000 });

const run = promisify(execFile);
let home: TestHome;
let relay: RelayProcess;
const daemons: TestDaemon[] = [];
const cleanup: Array<() => void> = [];

beforeEach(async () => {
  home = new TestHome();
  relay = await new RelayProcess(home, join(home.root, "relay")).start();
});
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.kill9();
  await relay.kill9();
  for (const c of cleanup.splice(0)) c();
  home.remove();
});

/** A daemon on a home and tmux server of its own, registered with the relay. */
async function daemon(id: string, options: { providers?: string; file?: Record<string, unknown>; own?: TestHome; firstRun?: boolean } = {}): Promise<TestDaemon> {
  const h = options.own ?? new TestHome({ settleClaude: !options.firstRun });
  const tmux = new TestTmux();
  cleanup.push(() => tmux.kill(), () => h !== home && h.remove());
  const d = new TestDaemon(h, tmux, {
    relayUrl: relay.url,
    id,
    token: relay.token,
    file: { env: { IS_SANDBOX: "1" }, heartbeatIntervalMs: 1000, ...options.file },
    env: { AGENT_RELAY_ORCHESTRATOR_PROVIDERS: options.providers ?? "claude,codex" },
  }).start();
  daemons.push(d);
  await d.waitForLog(new RegExp(`registered as ${id} `), 20_000);
  return d;
}

/** The CLI in a second terminal: this test's HOME, the relay's URL and token in its env. */
async function cli(args: string[], cwd = home.root): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { cwd, env: home.env({ AGENT_RELAY_URL: relay.url, AGENT_RELAY_TOKEN: relay.token }) });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const latestMessage = async () => (await relay.call("GET", "/messages/cursor")).body.latestId as number;

describe("spawn tells the truth by default", () => {
  it("waits for the outcome; --no-wait only sends; --wait is still accepted", async () => {
    await daemon("box");
    const waited = await cli(["spawn", "codex", "--label", "a"]);
    expect(waited).toMatchObject({ code: 0, stderr: "" });
    expect(waited.stdout).toMatch(/^box: spawned ar-codex-a\n  ar-codex-a  codex  a  ready  pid \d+  /);

    const sent = await cli(["spawn", "codex", "--label", "b", "--no-wait"]);
    expect(sent).toMatchObject({ code: 0, stdout: expect.stringMatching(/^sent spawn to box \(message \d+\)\n$/) });
    expect((await cli(["spawn", "codex", "--label", "c", "--wait"])).stdout).toMatch(/^box: spawned ar-codex-c\n/);
  });

  it("shows the start as it goes on a terminal: starting, each dialog answered, ready", async () => {
    // a first run of claude: its dialogs, each followed by a pause long enough to be seen
    await daemon("box", { firstRun: true, file: { env: { IS_SANDBOX: "1", FAKE_CLAUDE_DIALOG_PAUSE_MS: "1000" } } });
    const term = new TestTmux();
    cleanup.push(() => term.kill());
    term.run("new-session", "-d", "-s", "idle", "--", "sleep", "600");
    term.run("set-option", "-g", "remain-on-exit", "on");
    const env = Object.entries(home.env({ AGENT_RELAY_URL: relay.url, AGENT_RELAY_TOKEN: relay.token })).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
    // sh prints spawn's exit status under its output: tmux's own pane_dead_status lags the pane's end.
    const command = ["sh", "-c", '"$@"; echo "spawn exited $?"', "sh", process.execPath, CLI, "spawn", "claude", "--label", "first"];
    term.run("new-session", "-d", "-s", "term", "-x", "200", "-y", "50", ...env, "--", ...command);
    const screen = () => term.capture("term").split("\n").map((l) => l.trimEnd());
    await waitFor("spawn to finish", () => screen().some((l) => l.startsWith("spawn exited ")), 60_000, 200).catch(() => undefined);
    const lines = screen();
    expect(lines.filter((l) => l.startsWith("spawn exited ")), lines.join("\n")).toEqual(["spawn exited 0"]);
    const at = (pattern: RegExp) => lines.findIndex((l) => pattern.test(l));
    const dialogs = lines.filter((l) => /^  answered dialog "[a-z-]+"$/.test(l));
    expect(dialogs, lines.join("\n")).toContain('  answered dialog "trust"');
    expect(new Set(dialogs).size).toBeGreaterThanOrEqual(2);
    const order = [/^waiting for box to start first \(up to \d+ s; Ctrl-C stops waiting, not the agent\)$/, /^  answered dialog /, /^  ready in \d+\.\d s$/, /^box: spawned ar-claude-first$/].map(at);
    expect(order.every((i) => i >= 0), lines.join("\n")).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });

  it("checks the provider before sending anything, and picks the one online host that offers it", async () => {
    await daemon("cl", { providers: "claude" });
    await daemon("cx", { providers: "codex" });
    const before = await latestMessage();
    expect(await cli(["spawn", "gemini"])).toMatchObject({ code: 1, stderr: 'error: no online host offers provider "gemini" (cl: claude; cx: codex)\n' });
    expect(await cli(["spawn", "claude", "--host", "cx"])).toMatchObject({ code: 1, stderr: 'error: cx does not offer provider "claude" (it offers: codex)\n' });
    expect(await cli(["spawn", "codex", "--timeout", "abc"])).toMatchObject({ code: 2, stderr: "error: --timeout: expected a number above 0\n" });
    expect(await latestMessage()).toBe(before); // nothing was sent

    // two hosts online, no --host: each provider has one host that offers it
    expect((await cli(["spawn", "codex", "--label", "x"])).stdout).toMatch(/^cx: spawned ar-codex-x\n/);
    expect((await cli(["spawn", "claude", "--label", "y"])).stdout).toMatch(/^cl: spawned ar-claude-y\n/);
  });

  it("resolves --cwd against the shell's directory; a bare name is a folder of baseDir, as in 0.9.0", async () => {
    await daemon("box", { own: home });
    const other = join(home.project, "..", "lib");
    mkdirSync(other);
    const cwdOf = async (label: string, cwdFlag: string, shellDir: string) => {
      const out = await cli(["spawn", "codex", "--label", label, "--cwd", cwdFlag, "--json"], shellDir);
      expect(out.code, out.stderr).toBe(0);
      return JSON.parse(out.stdout).agents[0].cwd as string;
    };
    expect(await cwdOf("dot", ".", home.project)).toBe(home.project);
    expect(await cwdOf("up", "../lib", home.project)).toBe(other);
    expect(await cwdOf("rel", "projects/app", home.root)).toBe(home.project);
    expect(await cwdOf("bare", "app", home.root)).toBe(home.project); // no ./app here: baseDir's app, as 0.9.0 did
    expect(await cwdOf("bare2", "lib", home.project)).toBe(other);

    const outside = await cli(["spawn", "codex", "--label", "out", "--cwd", "."], home.root);
    expect(outside).toMatchObject({ code: 1, stderr: `error: box refused spawn [cwd]: cwd ${home.root} is outside baseDir ${home.baseDir}\n` });
  });

  it("waits longer than the host's start timeout, so a stuck agent's reason is shown", async () => {
    const hold = join(home.root, "hold");
    mkdirSync(hold);
    writeFileSync(join(hold, "slow"), "");
    // longer than the 30 s `spawn` used to wait: the reason comes at 31 s
    await daemon("box", { file: { startTimeoutMs: 31_000, env: { IS_SANDBOX: "1", FAKE_CLAUDE_HOLD_DIR: hold } } });
    const out = await cli(["spawn", "claude", "--label", "slow"]);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/^error: box refused spawn \[stuck\]: ar-claude-slow no ready screen within 31 s/);
  });

  it('says "stays queued" only when no host took the spawn', async () => {
    const hold = join(home.root, "hold");
    mkdirSync(hold);
    writeFileSync(join(hold, "held"), "");
    cleanup.push(() => rmSync(hold, { recursive: true, force: true }));
    const box = await daemon("box", { file: { heartbeatIntervalMs: 20_000, env: { IS_SANDBOX: "1", FAKE_CLAUDE_HOLD_DIR: hold } } });

    // taken, still starting: not queued
    const held = await cli(["spawn", "claude", "--label", "held", "--timeout", "2"]);
    expect(held.code).toBe(1);
    expect(held.stderr).toMatch(/^error: box took message \d+ but gave no answer within 2 s: it may still be working \(see ps\)\n$/);

    // the daemon is gone, and the relay does not know yet (20 s heartbeats): nobody takes it
    await box.kill9();
    const queued = await cli(["spawn", "codex", "--label", "q", "--timeout", "2"]);
    expect(queued.code).toBe(1);
    expect(queued.stderr).toMatch(/^error: box did not take message \d+ within 2 s: it stays queued at the relay until box polls for it\n$/);
  });
});
