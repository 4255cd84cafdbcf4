import { writeFileSync } from "node:fs";
import { basename } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { TestHome } from "../support/env.js";
import { TestTmux } from "../support/tmux.js";
import { TestUp } from "../support/up.js";
import { waitFor } from "../support/wait.js";

// `up`, the CLI run many times, a fake claude through whole turns: slow on a busy machine.
vi.setConfig({ testTimeout: 120_000 });

let home: TestHome;
let tmux: TestTmux;
let up: TestUp;

beforeEach(async () => {
  home = new TestHome();
  tmux = new TestTmux();
  const config = `${home.root}/orchestrator.config.json`;
  // claude in its `default` permission mode, which asks before it runs a tool.
  writeFileSync(config, JSON.stringify({ env: { IS_SANDBOX: "1", FAKE_CLAUDE_WORK_MS: "3000" }, claude: { approvalArgs: { guarded: ["--permission-mode", "default"] } } }));
  up = new TestUp(home, tmux, { AGENT_RELAY_ORCHESTRATOR_CONFIG: config });
  await up.start();
});
afterEach(async () => {
  await up.stop();
  tmux.kill();
  home.remove();
});

/** The agent's row of `ps`, and the line under it. */
async function psRow(session: string): Promise<{ row: string; under: string }> {
  const lines = (await up.cli(["ps"])).stdout.split("\n");
  const at = lines.findIndex((l) => l.includes(session));
  return { row: lines[at] ?? "", under: lines[at + 1] ?? "" };
}

async function agentJson(session: string): Promise<Record<string, unknown> | undefined> {
  const hosts = JSON.parse((await up.cli(["ps", "--json"])).stdout) as Array<{ agents: Array<Record<string, unknown>> }>;
  return hosts.flatMap((h) => h.agents).find((a) => a.tmuxSession === session);
}

async function type(session: string, text: string): Promise<void> {
  tmux.run("send-keys", "-t", `=${session}:`, "-l", "--", text);
  await new Promise((r) => setTimeout(r, 300));
  tmux.run("send-keys", "-t", `=${session}:`, "Enter");
}

describe("live state through the relay: ps and ps --json", () => {
  it("shows idle → working → idle through a turn, and blocked with the question and its options", async () => {
    expect((await up.cli(["spawn", "claude", "--label", "w", "--cwd", home.project, "--prompt", "hello", "--wait"])).code).toBe(0);
    const seen: string[] = [];
    const note = (state: unknown) => typeof state === "string" && seen.at(-1) !== state && seen.push(state);
    await waitFor("idle after the first turn", async () => (note((await agentJson("ar-claude-w"))?.state), seen.at(-1) === "idle"), 30_000);
    const idle = await agentJson("ar-claude-w");
    expect(idle).toMatchObject({ status: "ready", state: "idle", stateSince: expect.any(Number) });
    expect((await psRow("ar-claude-w")).row).toMatch(/^box\s+online\s+\d+s ago\s+ar-claude-w\s+claude\s+w\s+idle\s+\d+s ago\s+\d+\s/);

    seen.length = 0;
    await type("ar-claude-w", "second");
    await waitFor("working, then idle again", async () => (note((await agentJson("ar-claude-w"))?.state), seen.includes("working") && seen.at(-1) === "idle"), 30_000);
    expect(seen.filter((s) => s !== "idle")).toEqual(["working"]);

    await type("ar-claude-w", "tool: rm -rf build");
    await waitFor("blocked in ps", async () => (await psRow("ar-claude-w")).row.includes(" blocked "), 30_000);
    const options = ["Yes", `Yes, and always allow access to ${basename(home.project)}/ from this project`, "No"];
    await waitFor("the question in ps", async () => (await psRow("ar-claude-w")).under.includes("Do you want"), 10_000);
    expect((await psRow("ar-claude-w")).under).toBe(`    └ Do you want to proceed?  [${options.join(" | ")}]`);
    expect(await agentJson("ar-claude-w")).toMatchObject({ state: "blocked", question: "Do you want to proceed?", options });

    tmux.run("send-keys", "-t", "=ar-claude-w:", "3"); // No: `Interrupted`, and idle
    await waitFor("idle once answered", async () => (await agentJson("ar-claude-w"))?.state === "idle", 30_000);
    expect((await agentJson("ar-claude-w"))?.question).toBeUndefined();
  });
});
