import { basename } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Orchestrator } from "../../core/index.js";
import { TestHome } from "../support/env.js";
import { createTestOrchestrator } from "../support/orchestrator.js";
import { Receiver } from "../support/receiver.js";
import { TestTmux } from "../support/tmux.js";
import { sleep, waitFor } from "../support/wait.js";

// Real tmux and the fake claude (its hooks, its permission prompt), turns of about a second: slow on a busy machine.
vi.setConfig({ testTimeout: 60_000 });

let home: TestHome;
let tmux: TestTmux;
let hook: Receiver;
let orchestrator: Orchestrator | undefined;

beforeEach(async () => {
  home = new TestHome();
  tmux = new TestTmux();
  hook = await Receiver.start();
});
afterEach(async () => {
  await orchestrator?.stop();
  orchestrator = undefined;
  await hook.close();
  tmux.kill();
  home.remove();
});

/** Types a prompt as a user would: the text, a pause, Enter. */
async function type(session: string, text: string): Promise<void> {
  tmux.run("send-keys", "-t", `=${session}:`, "-l", "--", text);
  await new Promise((r) => setTimeout(r, 300));
  tmux.run("send-keys", "-t", `=${session}:`, "Enter");
}

const events = () => hook.json().map((n) => n.event as string);

describe("notifications from a live claude", () => {
  it("a webhook receives done (a turn ended) and needs-input (a permission prompt: question, options, the agent's name); a secret typed is redacted", async () => {
    ({ orchestrator } = await createTestOrchestrator(home, {
      providers: ["claude"],
      tmux: { socketName: tmux.socketName },
      disablePlugins: ["relay-http"],
      claude: { approvalArgs: { guarded: ["--permission-mode", "default"] } },
      // Within 5 s a repeat is not sent again (the state may flap while its events and screen disagree).
      notifications: { debounceMs: 5_000, targets: [{ type: "webhook", url: hook.url() }] },
      env: { IS_SANDBOX: "1", FAKE_CLAUDE_WORK_MS: "800", DEPLOY_TOKEN: "dpl-0123456789abcdef" },
    }));
    await orchestrator.start();
    await orchestrator.spawn({ label: "reviewer", cwd: home.project, prompt: "hello" });
    await waitFor("done", () => events().length === 1);
    expect(hook.json()[0]).toMatchObject({ event: "done", state: "idle", agent: { label: "reviewer", session: "ar-claude-reviewer", provider: "claude", cwd: home.project } });

    await type("ar-claude-reviewer", "tool: deploy dpl-0123456789abcdef");
    await waitFor("needs-input", () => events().length === 2);
    const blocked = hook.json()[1]!;
    expect(blocked).toMatchObject({
      event: "blocked",
      state: "blocked",
      agent: { label: "reviewer" },
      question: "Do you want to proceed?",
      options: ["Yes", `Yes, and always allow access to ${basename(home.project)}/ from this project`, "No"],
      title: "reviewer needs you (test)",
    });
    expect(blocked.lastLines).toContain("   deploy ***");
    expect(hook.requests.map((r) => r.body).join("")).not.toContain("dpl-0123456789abcdef");

    await sleep(5_500); // the user reads the question: the next done is no repeat
    tmux.run("send-keys", "-t", "=ar-claude-reviewer:", "1");
    await waitFor("done again", () => events().length === 3);
    expect(events()).toEqual(["done", "blocked", "done"]);
  });

  it("a claude whose working screen stalls is notified as stuck, then done when it finishes", async () => {
    ({ orchestrator } = await createTestOrchestrator(home, {
      providers: ["claude"],
      tmux: { socketName: tmux.socketName },
      disablePlugins: ["relay-http"],
      states: { stuckAfterMs: 1_500 },
      notifications: { targets: [{ type: "webhook", url: hook.url() }] },
      env: { IS_SANDBOX: "1", FAKE_CLAUDE_WORK_MS: "800" },
    }));
    await orchestrator.start();
    await orchestrator.spawn({ label: "thinker", cwd: home.project, prompt: "work:6000 think hard" });
    await waitFor("stuck, then done", () => events().length === 2, 30_000);
    expect(events()).toEqual(["stuck", "done"]);
    expect(hook.json()[0]).toMatchObject({ event: "stuck", state: "stuck", agent: { label: "thinker" }, detail: expect.stringMatching(/^no screen change for \d+ s$/) });
  });
});
