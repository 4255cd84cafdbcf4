import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { CLI, TestHome } from "../support/env.js";
import { TestTmux } from "../support/tmux.js";
import { TestUp } from "../support/up.js";
import { sleep, waitFor } from "../support/wait.js";

// Issue #14.9: a live view. `ps --watch` redraws in place on a terminal, prints a table per change elsewhere.
vi.setConfig({ testTimeout: 120_000 });

let home: TestHome;
let tmux: TestTmux;
let up: TestUp;
beforeEach(async () => {
  home = new TestHome();
  tmux = new TestTmux();
  const file = `${home.root}/orchestrator.config.json`;
  writeFileSync(file, JSON.stringify({ env: { IS_SANDBOX: "1", FAKE_CLAUDE_TRANSCRIPT: home.transcript } }));
  up = await new TestUp(home, tmux, { AGENT_RELAY_ORCHESTRATOR_CONFIG: file }).start();
});
afterEach(async () => {
  await up.stop();
  tmux.kill();
  home.remove();
});

/** How many tables were printed: header lines. */
const tables = (text: string) => text.match(/^HOST\s+HOST STATE\s/gm)?.length ?? 0;

describe("ps --watch", () => {
  it("on a pipe prints a new table only when something changed, with status, age and restarts", async () => {
    const child = spawn(process.execPath, [CLI, "ps", "--watch", "--interval", "0.3"], { cwd: home.root, env: up.env() });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
    try {
      await waitFor("the first table", () => /^box\s+online\s/m.test(out));
      await sleep(1_500); // five looks at an unchanged relay: nothing new ("seen … ago" ticking is no change)
      expect(tables(out)).toBe(1);
      expect(await up.cli(["spawn", "claude", "--label", "watched", "--wait"])).toMatchObject({ code: 0 });
      await waitFor("the agent, idle, in a new table", () => /ar-claude-watched\s+claude\s+watched\s+idle\s+\d+s ago\s+\d+\s+\d+s ago\s+\d+\.\ds\s+0\s/.test(out));
      const printed = tables(out);
      await sleep(1_500);
      expect(tables(out)).toBe(printed);
      expect(printed).toBeLessThanOrEqual(4); // no agent, (starting,) (working,) idle
    } finally {
      child.kill();
    }
  });

  it("on a terminal redraws the table in place, and Ctrl-C ends it with status 0", async () => {
    const outer = new TestTmux();
    try {
      const env = Object.entries(up.env()).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
      // The shell (which outlives Ctrl-C) only reports the exit status: the command and its arguments are passed as "$@", never parsed.
      outer.run("new-session", "-d", "-s", "term", "-x", "160", "-y", "30", ...env, "--", "sh", "-c", 'trap true INT; "$@"; echo "exited with $?"; sleep 60', "sh", process.execPath, CLI, "ps", "--watch", "--interval", "0.3");
      outer.run("set-option", "-w", "-t", "=term:", "scroll-on-clear", "off"); // a terminal that keeps no copy of a cleared screen
      await waitFor("the view", () => /^box\s+online\s/m.test(outer.capture("term")));
      await up.cli(["spawn", "claude", "--label", "live", "--wait"]);
      await waitFor("the agent in the view", () => /ar-claude-live\s+claude\s+live\s+idle/.test(outer.capture("term")));
      await sleep(1_000);
      const seen = outer.capture("term"); // the screen and its scrollback
      expect(tables(seen)).toBe(1);
      expect(seen).toMatch(/agent-relay-orchestrator ps, every 0\.3 s · .* · Ctrl-C to quit/);
      outer.run("send-keys", "-t", "=term:", "C-c");
      await waitFor("the exit", () => outer.capture("term").includes("exited with 0"));
    } finally {
      outer.kill();
    }
  });

  it("refuses an interval that is not a number above 0", async () => {
    expect(await up.cli(["ps", "--watch", "--interval", "0"])).toMatchObject({ code: 2, stderr: "error: --interval: expected a number above 0\n" });
  });
});
