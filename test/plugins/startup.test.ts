import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { UserConfig } from "../../core/index.js";
import { TestHome } from "../support/env.js";
import { createTestOrchestrator } from "../support/orchestrator.js";
import { TestTmux } from "../support/tmux.js";
import { waitFor } from "../support/wait.js";

let home: TestHome;
let tmux: TestTmux;
const running: Array<{ stop(o?: { stopAgents?: boolean }): Promise<void> }> = [];

beforeEach(() => {
  tmux = new TestTmux();
});
afterEach(async () => {
  for (const o of running.splice(0)) await o.stop();
  tmux.kill();
  home?.remove();
});

async function start(config: UserConfig = {}, env: Record<string, string> = {}) {
  const { orchestrator, logs } = await createTestOrchestrator(home, {
    providers: ["claude", "codex"],
    tmux: { socketName: tmux.socketName },
    disablePlugins: ["relay-http"],
    ...config,
    env: { IS_SANDBOX: "1", FAKE_CLAUDE_TRANSCRIPT: home.transcript, FAKE_CODEX_TRANSCRIPT: home.transcript, ...env },
  });
  running.push(orchestrator);
  await orchestrator.start();
  return { orchestrator, logs };
}

const events = () =>
  existsSync(home.transcript)
    ? readFileSync(home.transcript, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
    : [];
// The hooks claude runs (its live-state events) are left out: they finish at their own pace.
const names = () => events().filter((e) => e.event !== "hook").map((e) => (e.event === "choice" ? `choice:${e.id}=${e.option}` : e.event === "dialog" ? `dialog:${e.id}` : String(e.event)));

/** A HOME where claude has finished onboarding but trusts nothing and has no bypass setting. */
function untrustingHome(): TestHome {
  const h = new TestHome({ settleClaude: false });
  writeFileSync(join(h.home, ".claude.json"), JSON.stringify({ hasCompletedOnboarding: true }));
  return h;
}

describe("claude start-up", () => {
  it("answers the trust dialog and the bypass warning (default: 'No, exit') by their labels, then delivers the prompt: ready", async () => {
    home = untrustingHome();
    const { orchestrator } = await start({ claude: { suppressDialogs: false } });
    const { agent } = await orchestrator.spawn({ label: "a", cwd: home.project, prompt: "build it" });
    expect(agent.status).toBe("ready");
    expect(names()).toEqual(["start", "dialog:trust", "choice:trust=Yes, I trust this folder", "dialog:bypass", "choice:bypass=Yes, I accept", "ready", "prompt"]);
    expect(events().find((e) => e.event === "prompt")!.text).toBe("build it");
    expect(orchestrator.report()[0]).toMatchObject({ status: "ready", timeToReadyMs: expect.any(Number), pid: expect.any(Number) });
  });

  it("waits for an answered dialog that lingers on a loaded host (3.5 s, its choice ticked) instead of calling the start stuck", async () => {
    home = untrustingHome();
    const { orchestrator } = await start({ claude: { suppressDialogs: false } }, { FAKE_CLAUDE_DIALOG_LINGER_MS: "3500" });
    const { agent } = await orchestrator.spawn({ label: "slow", cwd: home.project });
    expect(agent.status).toBe("ready");
    expect(names().filter((n) => n.startsWith("choice:"))).toEqual(["choice:trust=Yes, I trust this folder", "choice:bypass=Yes, I accept"]);
  });

  it("gets through a whole first run: theme, the API key (Yes, not the default No), security notes, trust, bypass", async () => {
    home = new TestHome({ settleClaude: false });
    const { orchestrator } = await start({ claude: { suppressDialogs: false } }, { ANTHROPIC_API_KEY: "sk-ant-test-0123456789abcdefghij" });
    await orchestrator.spawn({ label: "first-run", cwd: home.project, prompt: "hi" });
    expect(names().filter((n) => n.startsWith("choice:"))).toEqual([
      "choice:theme=Dark mode",
      "choice:api-key=Yes",
      "choice:security=continue",
      "choice:trust=Yes, I trust this folder",
      "choice:bypass=Yes, I accept",
    ]);
    expect(names().at(-1)).toBe("prompt");
  });

  it("suppresses the bypass warning with --settings rather than touching the user's files", async () => {
    home = untrustingHome();
    const before = readFileSync(join(home.home, ".claude.json"), "utf8");
    const { orchestrator } = await start();
    await orchestrator.spawn({ label: "quiet", cwd: home.project, prompt: "x" });
    expect(names()).toEqual(["start", "dialog:trust", "choice:trust=Yes, I trust this folder", "ready", "prompt"]);
    expect(readFileSync(join(home.home, ".claude.json"), "utf8")).toBe(before);
    expect(existsSync(join(home.home, ".claude", "settings.json"))).toBe(false);
  });

  it("types a long prompt once ready, and presses Enter again for the paste", async () => {
    home = new TestHome();
    const { orchestrator } = await start({ claude: { promptDelivery: "type" } });
    const prompt = `Refactor the parser. ${"Keep every test green. ".repeat(60)}`;
    await orchestrator.spawn({ label: "typed", prompt });
    await waitFor("the prompt to be submitted", () => events().some((e) => e.event === "prompt"));
    expect(events().filter((e) => e.event === "prompt").map((e) => e.text)).toEqual([prompt]);
  });

  it("waits through a 6 s silent start (real claude offline) and is ready after it", async () => {
    home = new TestHome();
    const { orchestrator } = await start({}, { FAKE_CLAUDE_START_DELAY_MS: "6000" });
    const { agent } = await orchestrator.spawn({ label: "slow", prompt: "p" });
    expect(agent.status).toBe("ready");
    expect(orchestrator.report()[0]!.timeToReadyMs).toBeGreaterThanOrEqual(6000);
  });

  it("reports an agent stuck on a dialog it cannot answer, with the dialog and the screen", async () => {
    home = untrustingHome();
    const { orchestrator } = await start({
      claude: { startTimeoutMs: 1500, screens: { dialogs: [{ id: "trust", match: { all: ["Quick safety check"] }, choose: "^Always trust$" }] } },
    });
    const err = await orchestrator.spawn({ label: "stuck", cwd: home.project }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/^ar-claude-stuck stuck on dialog "trust"; screen ends: .*No, exit/);
    const [report] = orchestrator.report();
    expect(report).toMatchObject({ status: "stuck", detail: expect.stringContaining('stuck on dialog "trust"') });
    expect(report!.lastLines).toEqual(expect.arrayContaining([expect.stringContaining("Quick safety check")]));
    expect(tmux.sessions()).toEqual(["ar-claude-stuck"]); // left for a person to look at
  });

  it("reports an exit during start-up at once, with the exit code, the agent's own last line and the fix", async () => {
    home = new TestHome();
    const { orchestrator } = await start({}, { IS_SANDBOX: "", FAKE_CLAUDE_ROOT: "1" }); // the fake claude acts as root
    const began = Date.now();
    await expect(orchestrator.spawn({ label: "root" })).rejects.toThrow(
      /exited with status 1 during start-up: --dangerously-skip-permissions cannot be used with root\/sudo privileges for security reasons; fix: set IS_SANDBOX=1 in the env policy/,
    );
    expect(Date.now() - began).toBeLessThan(15_000); // at once, not at the 30 s start-up timeout (generous: the machine may be busy)
    expect(orchestrator.report()[0]).toMatchObject({
      status: "exited",
      exitCode: 1,
      lastLines: ["--dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons"],
    });
  });

  it("starts ten agents in parallel: every one starts before any is ready", async () => {
    home = new TestHome();
    // Each start is held (a blank screen) until the test releases it: one after another, the second could not begin.
    const holdDir = join(home.root, "hold");
    mkdirSync(holdDir);
    const labels = Array.from({ length: 10 }, (_, i) => `p${i}`);
    for (const label of labels) writeFileSync(join(holdDir, label), "");
    const { orchestrator } = await start({}, { FAKE_CLAUDE_HOLD_DIR: holdDir });
    const spawns = Promise.all(labels.map((label, i) => orchestrator.spawn({ label, prompt: `task ${i}` })));
    await waitFor("all ten started while every one is held", () => events().filter((e) => e.event === "start").length === 10, 30_000);
    expect(events().filter((e) => e.event === "ready")).toEqual([]);
    for (const label of labels) rmSync(join(holdDir, label));
    const results = await spawns;
    expect(results.map((r) => r.agent.status)).toEqual(Array(10).fill("ready"));
    expect(events().filter((e) => e.event === "prompt")).toHaveLength(10);
  });

  it("stops gracefully: Ctrl-C twice, and claude exits 0 before its session goes", async () => {
    home = new TestHome();
    const { orchestrator } = await start();
    const { agent } = await orchestrator.spawn({ label: "polite", prompt: "p" });
    await waitFor("idle", () => !tmux.screen(agent.session).includes("esc to interrupt"));
    await orchestrator.stopAgent(agent);
    expect(events().filter((e) => e.event === "exit")).toEqual([expect.objectContaining({ code: 0 })]);
    expect(tmux.sessions()).toEqual([]);
  });
});

describe("codex start-up", () => {
  function gitProject(h: TestHome): string {
    const repo = join(h.baseDir, "repo");
    mkdirSync(join(repo, ".git"), { recursive: true });
    return repo;
  }

  it("is not fooled by the splash that looks ready: answers the trust dialog, then types the prompt", async () => {
    home = new TestHome();
    const repo = gitProject(home);
    const { orchestrator } = await start({ codex: { suppressDialogs: false } }, { FAKE_CODEX_TRUST_DELAY_MS: "1500" });
    const { agent } = await orchestrator.spawn({ provider: "codex", label: "c", cwd: repo, prompt: "fix lint" });
    expect(agent.status).toBe("ready");
    expect(names()).toEqual(["start", "dialog:trust", "choice:trust=Trust and continue", "ready", "prompt"]);
    expect(events().find((e) => e.event === "prompt")!.text).toBe("fix lint");
    expect(events()[0]).toMatchObject({ noDaemon: true, env: { AGENT_RELAY_CODEX_HEADLESS: "1" } });
  });

  it("pre-trusts the project by default, so no trust dialog shows", async () => {
    home = new TestHome();
    const repo = gitProject(home);
    mkdirSync(join(repo, "src"));
    const { orchestrator } = await start();
    await orchestrator.spawn({ provider: "codex", label: "c", cwd: join(repo, "src"), prompt: "go" });
    expect(names()).toEqual(["start", "ready", "prompt"]);
  });

  it("reports at once that codex is not logged in, instead of waiting for a timeout", async () => {
    home = new TestHome({ loginCodex: false });
    const { orchestrator } = await start();
    await expect(orchestrator.spawn({ provider: "codex", label: "nologin" })).rejects.toThrow(/^ar-codex-nologin codex is not logged in: run `printenv OPENAI_API_KEY \| codex login --with-api-key`/);
  });
});
