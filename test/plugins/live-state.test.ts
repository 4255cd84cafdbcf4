import { appendFileSync, existsSync, readFileSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { eventFilePath, type Orchestrator, type UserConfig } from "../../core/index.js";
import { FAKE_BIN, TestHome } from "../support/env.js";
import { createTestOrchestrator } from "../support/orchestrator.js";
import { TestTmux } from "../support/tmux.js";
import { sleep, waitFor } from "../support/wait.js";

// Real tmux, the fake CLIs running their hooks, turns of about a second: slow on a busy machine.
vi.setConfig({ testTimeout: 60_000 });

let home: TestHome;
let tmux: TestTmux;
const running: Orchestrator[] = [];

beforeEach(() => {
  home = new TestHome();
  tmux = new TestTmux();
});
afterEach(async () => {
  for (const o of running.splice(0)) await o.stop();
  tmux.kill();
  home.remove();
});

/** A daemon without a relay; `changes` gets `<to>:<source>` for every state change, in order. */
async function start(config: UserConfig = {}) {
  const { orchestrator, logs } = await createTestOrchestrator(home, {
    providers: ["claude", "codex"],
    tmux: { socketName: tmux.socketName },
    disablePlugins: ["relay-http"],
    ...config,
    env: { IS_SANDBOX: "1", FAKE_CLAUDE_WORK_MS: "800", FAKE_CODEX_WORK_MS: "1500" },
  });
  running.push(orchestrator);
  const changes: string[] = [];
  const events: string[] = [];
  const questions: Array<string | undefined> = [];
  orchestrator.hooks.onAgentState.tapPromise("test", async (_agent, _from, to, detail) => {
    changes.push(`${to}:${detail.source}`);
    if (to === "blocked") questions.push(detail.question);
  });
  orchestrator.hooks.onAgentEvent.tapPromise("test", async (_agent, event) => void events.push(event.kind));
  await orchestrator.start();
  return { orchestrator, logs, changes, events, questions };
}

/** Types a prompt as a user would: the text, a pause, Enter. */
async function type(session: string, text: string): Promise<void> {
  tmux.run("send-keys", "-t", `=${session}:`, "-l", "--", text);
  await new Promise((r) => setTimeout(r, 300));
  tmux.run("send-keys", "-t", `=${session}:`, "Enter");
}

const settled = (changes: string[], n: number, last: string) => () => changes.length >= n && changes.at(-1) === last;

describe("live state of claude", () => {
  it("goes idle → working → idle through a turn, moved by its hook events before its screen", async () => {
    const { orchestrator, changes, events } = await start();
    await orchestrator.spawn({ label: "a", cwd: home.project, prompt: "first" });
    await waitFor("the first turn to end", settled(changes, 2, "idle:event"));
    expect(changes.join(" ")).toBe("working:event idle:event");
    expect(orchestrator.state("ar-claude-a")).toMatchObject({ state: "idle", source: "event", since: expect.any(Number) });

    await type("ar-claude-a", "second");
    await waitFor("the second turn to end", settled(changes, 4, "idle:event"));
    expect(changes.join(" ")).toBe("working:event idle:event working:event idle:event");
    expect(events).toEqual(expect.arrayContaining(["prompt-submit", "stop"]));
    expect(orchestrator.report()[0]).toMatchObject({ status: "ready", state: "idle", stateSince: expect.any(Number) });
  });

  it("looks at an idle claude's screen only every idleTickMs; its next turn's event wakes the watcher at once", async () => {
    const log = join(home.root, "tmux-calls.log");
    const looks = () => (existsSync(log) ? readFileSync(log, "utf8").split("\n").filter((l) => l.includes("capture-pane")).length : 0);
    process.env.TMUX_CALL_LOG = log;
    try {
      const { orchestrator, changes } = await start({ states: { tickMs: 100, idleTickMs: 4_000 }, tmux: { socketName: tmux.socketName, bin: join(FAKE_BIN, "counting-tmux") } });
      await orchestrator.spawn({ label: "q", cwd: home.project, prompt: "first" });
      await waitFor("the first turn to end", settled(changes, 2, "idle:event"));
      await sleep(500); // the look that confirms idle
      rmSync(log, { force: true });
      await sleep(3_000);
      expect(looks()).toBeLessThanOrEqual(1); // at the full tick: about 30
      await type("ar-claude-q", "second");
      await waitFor("the second turn to end", settled(changes, 4, "idle:event"));
      expect(changes.slice(2)).toEqual(["working:event", "idle:event"]);
    } finally {
      delete process.env.TMUX_CALL_LOG;
    }
  });

  it("a provider without events goes by its screen alone", async () => {
    const { orchestrator, changes, events } = await start({ claude: { events: false } });
    await orchestrator.spawn({ label: "a", cwd: home.project, prompt: "first" });
    await waitFor("the turn to end", settled(changes, 2, "idle:screen"));
    expect(changes).toEqual(["working:screen", "idle:screen"]);
    expect(events).toEqual([]);
  });

  it("is blocked on a permission prompt with its question and options, and works again once answered", async () => {
    const { orchestrator, changes, questions } = await start({ claude: { approvalArgs: { guarded: ["--permission-mode", "default"] } } });
    await orchestrator.spawn({ label: "b", cwd: home.project, prompt: "hello" });
    await waitFor("idle", settled(changes, 2, "idle:event"));
    await type("ar-claude-b", "tool: rm -rf build");
    await waitFor("blocked", () => changes.at(-1)?.startsWith("blocked"));
    expect(questions).toEqual(["Do you want to proceed?"]); // onAgentState is told the question, not only the state
    const state = orchestrator.state("ar-claude-b")!;
    expect(state).toMatchObject({ state: "blocked", question: "Do you want to proceed?" });
    expect(state.options).toEqual(["Yes", `Yes, and always allow access to ${basename(home.project)}/ from this project`, "No"]);
    expect(orchestrator.report()[0]).toMatchObject({ state: "blocked", question: "Do you want to proceed?", options: state.options });

    tmux.run("send-keys", "-t", "=ar-claude-b:", "1");
    await waitFor("the tool to run and the turn to end", settled(changes, 6, "idle:event"));
    // The permission event and the prompt on screen come together: either may tell the blocked state first.
    expect(changes.slice(2).map((c) => c.split(":")[0])).toEqual(["working", "blocked", "working", "idle"]);
  });

  it("believes its screen over its events when they disagree past the window, and logs both", async () => {
    const { orchestrator, logs, changes } = await start({ states: { disagreeMs: 600 } });
    await orchestrator.spawn({ label: "c", cwd: home.project, prompt: "hello" });
    await waitFor("idle", settled(changes, 2, "idle:event"));
    // An event that claims work the screen never shows (a CLI that changed, or a lie).
    appendFileSync(eventFilePath(home.stateDir, "ar-claude-c"), JSON.stringify({ event: "UserPromptSubmit", at: Date.now() }) + "\n");
    await waitFor("the screen to win", settled(changes, 4, "idle:screen"));
    expect(changes.slice(2).join(" ")).toBe("working:event idle:screen");
    const disagreements = logs.filter((l) => l.includes("its events say"));
    expect(disagreements).toHaveLength(1);
    expect(disagreements[0]).toMatch(/WARN \[state\] ar-claude-c: its events say working but its screen says idle for \d+ s; going by the screen \(a CLI change\?\)\n?$/);
  });

  it("ignores hostile lines in its event file with one log line, and goes on reading it", async () => {
    const { orchestrator, logs, changes, events } = await start({ states: { disagreeMs: 600 } });
    await orchestrator.spawn({ label: "d", cwd: home.project, prompt: "hello" });
    await waitFor("idle", settled(changes, 2, "idle:event"));
    const file = eventFilePath(home.stateDir, "ar-claude-d");
    const hostile = ["not json {", "x".repeat(100_000), JSON.stringify({ event: 5, at: "now" }), JSON.stringify({ event: "Stop", prompt: "p".repeat(5_000) })];
    appendFileSync(file, hostile.join("\n") + "\n");
    // One log line per look, however many lines it ignored (the four may come in one look or two).
    const ignored = () => logs.filter((l) => l.includes("ar-claude-d: ignored")).map((l) => Number(l.match(/ignored (\d+) bad line\(s\) in its event file \(first: /)?.[1]));
    await waitFor("the log lines", () => ignored().reduce((a, b) => a + b, 0) === 4);
    expect(logs.find((l) => l.includes("ar-claude-d: ignored"))).toMatch(/ignored \d bad line\(s\) in its event file \(first: a line that is not JSON\)/);
    expect(logs.join("\n")).not.toContain("xxxxxxxxxx");
    // Still watching: a later turn is seen as ever.
    await type("ar-claude-d", "again");
    await waitFor("the turn after", settled(changes, 4, "idle:event"));
    expect(changes.join(" ")).toBe("working:event idle:event working:event idle:event");
    expect(events.filter((e) => e === "stop")).toHaveLength(2);
  });

  it("is stuck when its working screen does not change for stuckAfterMs, and back when it moves", async () => {
    const { orchestrator, changes } = await start({ states: { stuckAfterMs: 1_500 } });
    await orchestrator.spawn({ label: "e", cwd: home.project, prompt: "work:6000 think hard" });
    await waitFor("stuck", () => changes.includes("stuck:event") || changes.includes("stuck:screen"), 20_000);
    expect(orchestrator.state("ar-claude-e")).toMatchObject({ state: "stuck", detail: expect.stringMatching(/^no screen change for \d+ s$/) });
    expect(orchestrator.report()[0]).toMatchObject({ status: "ready", state: "stuck" });
    await waitFor("idle once the answer shows", () => changes.at(-1) === "idle:event", 20_000);
    expect(changes.map((c) => c.split(":")[0])).toEqual(["working", "stuck", "idle"]);
  });

  it("takes the idle and working rules from the config's screens.states", async () => {
    // A working rule that matches claude's idle screen too: idle is never seen.
    const { orchestrator, changes } = await start({ claude: { events: false, screens: { states: { working: { all: ["Welcome to Claude Code"] } } } } });
    await orchestrator.spawn({ label: "f", cwd: home.project, prompt: "hello" });
    await waitFor("working", () => changes.length >= 1);
    await new Promise((r) => setTimeout(r, 2_500)); // the turn (0.8 s) is long over
    expect(changes).toEqual(["working:screen"]);
    expect(orchestrator.state("ar-claude-f")?.state).toBe("working");
  });
});

describe("live state of codex", () => {
  it("goes working → idle by its notify program, and is blocked on an approval with its options", async () => {
    const { orchestrator, changes, events } = await start({ providers: ["codex"] });
    await orchestrator.spawn({ provider: "codex", label: "x", cwd: home.project, prompt: "hello" });
    await waitFor("the turn to end", () => changes.at(-1)?.startsWith("idle") && events.includes("stop"));
    expect(changes.map((c) => c.split(":")[0])).toEqual(["working", "idle"]);
    await type("ar-codex-x", "tool: ls");
    await waitFor("blocked", () => changes.at(-1) === "blocked:screen");
    expect(orchestrator.state("ar-codex-x")).toMatchObject({
      question: "Would you like to run the following command?",
      options: ["Yes, proceed (y)", "Yes, and don't ask again for this command (p)", "No, and tell Codex what to do differently (esc)"],
    });
  });
});
