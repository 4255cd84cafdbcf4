import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CLI, FIXTURES, TestHome } from "../support/env.js";
import { TestTmux } from "../support/tmux.js";
import { TestUp } from "../support/up.js";
import { waitFor } from "../support/wait.js";
import { writeFileSync } from "node:fs";

// Issue #14.8: pipes and terminals. `logs --json`, `logs -f` that prints only what changed
// (new lines, or a redrawn screen: in place on a terminal, once per screen elsewhere), and Ctrl-C of `up`.
vi.setConfig({ testTimeout: 120_000 });

let home: TestHome;
let tmux: TestTmux;
let up: TestUp | undefined;
afterEach(async () => {
  await up?.stop();
  up = undefined;
  tmux.kill();
  home.remove();
});

async function startUp(configFile?: string): Promise<TestUp> {
  home = new TestHome();
  tmux = new TestTmux();
  const file = configFile ?? `${home.root}/orchestrator.config.json`;
  if (!configFile) writeFileSync(file, JSON.stringify({ env: { IS_SANDBOX: "1", FAKE_CLAUDE_TRANSCRIPT: home.transcript } }));
  up = await new TestUp(home, tmux, { AGENT_RELAY_ORCHESTRATOR_CONFIG: file }).start();
  return up;
}

/** `logs --follow` into a pipe; its output so far. */
function followPiped(u: TestUp, agent: string, extra: string[] = []) {
  const child = spawn(process.execPath, [CLI, "logs", agent, "--follow", "--lines", "50", ...extra], { cwd: home.root, env: u.env() });
  const state = { out: "", child };
  child.stdout.setEncoding("utf8").on("data", (c: string) => (state.out += c));
  return state;
}

const type = (session: string, text: string) => {
  tmux.run("send-keys", "-t", `=${session}:`, "-l", text);
  tmux.run("send-keys", "-t", `=${session}:`, "Enter");
};
const count = (text: string, part: string) => text.split(part).length - 1;

describe("logs", () => {
  it("--json prints the host, the session, the label and the lines; nothing on a pipe carries escape sequences", async () => {
    const u = await startUp();
    await u.cli(["spawn", "claude", "--label", "j", "--prompt", "hello", "--wait"]);
    await waitFor("the prompt on screen", async () => (await u.cli(["logs", "j"])).stdout.includes("> hello"));
    const json = JSON.parse((await u.cli(["logs", "j", "--json", "--lines", "30"])).stdout);
    expect(json).toMatchObject({ host: "box", session: "ar-claude-j", label: "j" });
    expect(json.lines).toEqual(expect.arrayContaining(["> hello", "● Done."]));
    for (const command of [["logs", "j"], ["ps"], ["doctor"]]) expect((await u.cli(command)).stdout).not.toMatch(/\x1b/);
  });

  it("-f on a pipe prints a line-oriented agent's new lines only, once each", async () => {
    const u = await startUp(join(FIXTURES, "config", "custom-provider", "orchestrator.config.ts"));
    expect(await u.cli(["spawn", "python", "--label", "py", "--wait"])).toMatchObject({ code: 0 });
    const f = followPiped(u, "py");
    try {
      await waitFor("the first prompt", () => f.out.includes(">>>"));
      type("ar-python-py", "for i in range(3): print('line', i)");
      tmux.run("send-keys", "-t", "=ar-python-py:", "Enter");
      await waitFor("the loop's output", () => f.out.includes("line 2"));
      type("ar-python-py", "print('done')");
      await waitFor("the last output", () => /^done$/m.test(f.out));
      for (const line of ["line 0", "line 1", "line 2", "done"]) expect(f.out.split("\n").filter((l) => l === line), line).toHaveLength(1);
      expect(f.out).not.toContain("--- screen ---");
    } finally {
      f.child.kill();
    }
  });

  it("-f on a pipe prints a full-screen agent's screen once per change, after it settles, not again and again", async () => {
    const u = await startUp();
    await u.cli(["spawn", "claude", "--label", "chatty", "--prompt", "first", "--wait"]);
    await waitFor("the first prompt on screen", async () => (await u.cli(["logs", "chatty"])).stdout.includes("> first"));
    const f = followPiped(u, "chatty");
    try {
      await waitFor("the initial screen", () => f.out.includes("? for shortcuts"));
      await new Promise((r) => setTimeout(r, 2_000)); // an unchanged screen prints nothing more
      expect(count(f.out, "Welcome to Claude Code")).toBe(1);
      type("ar-claude-chatty", "second");
      await waitFor("the new exchange", () => f.out.includes("> second"));
      await new Promise((r) => setTimeout(r, 2_000));
      const screens = f.out.split("--- screen ---\n").slice(1);
      expect(screens.length).toBeGreaterThanOrEqual(1);
      expect(screens.length).toBeLessThanOrEqual(3); // typed, working, done: each settled screen at most once
      expect(new Set(screens).size).toBe(screens.length);
      expect(screens.at(-1)).toContain("> second");
    } finally {
      f.child.kill();
    }
  });

  it("-f on a terminal redraws a full-screen agent in place: its screen shows once, up to date", async () => {
    const u = await startUp();
    await u.cli(["spawn", "claude", "--label", "viewer", "--prompt", "first", "--wait"]);
    const outer = new TestTmux();
    try {
      const env = Object.entries(u.env()).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
      outer.run("new-session", "-d", "-s", "term", "-x", "120", "-y", "40", ...env, "--", process.execPath, CLI, "logs", "viewer", "-f", "--lines", "30");
      outer.run("set-option", "-w", "-t", "=term:", "scroll-on-clear", "off"); // a terminal that keeps no copy of a cleared screen
      await waitFor("the agent's screen in the terminal", () => outer.capture("term").includes("> first"));
      type("ar-claude-viewer", "second");
      await waitFor("the second exchange", () => outer.capture("term").includes("> second"));
      type("ar-claude-viewer", "third");
      await waitFor("the third exchange", () => outer.capture("term").includes("> third"));
      await new Promise((r) => setTimeout(r, 1_500));
      const seen = outer.capture("term"); // the terminal's screen and its scrollback
      expect(count(seen, "Welcome to Claude Code")).toBe(1);
      expect(count(seen, "> second")).toBe(1);
      expect(count(seen, "? for shortcuts")).toBe(1); // the footer too: redrawn, not printed again below
    } finally {
      outer.kill();
    }
  });
});

describe("Ctrl-C of up", () => {
  it("says the agents keep running and how to stop them; they do keep running", async () => {
    const u = await startUp();
    await u.cli(["spawn", "claude", "--label", "stays", "--wait"]);
    process.kill(u.pid!, "SIGINT");
    await waitFor("up's goodbye", () => u.logs.find((l) => l.includes("keeps running")));
    expect(u.logs).toContainEqual(
      expect.stringMatching(/INFO 1 agent keeps running \(ar-claude-stays\): to stop them, start the daemon again and run `agent-relay-orchestrator stop --all`; or start it with --stop-agents to stop them with it$/),
    );
    expect(tmux.sessions()).toEqual(["ar-claude-stays"]);
  });
});
