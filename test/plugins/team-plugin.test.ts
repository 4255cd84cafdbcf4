import { afterEach, describe, expect, it } from "vitest";
import team from "../../examples/team-plugin.js";
import { TestHome } from "../support/env.js";
import { createTestOrchestrator } from "../support/orchestrator.js";
import { shellProvider } from "../support/providers.js";
import { TestTmux } from "../support/tmux.js";

// The README's complete third-party plugin, through a real core and real tmux:
// its provider is registered, its own control answers, its report field shows.

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

describe("examples/team-plugin.ts", () => {
  it("adds a provider, answers its own `pin` control in order, and puts `pinned` in every report", async () => {
    const home = new TestHome();
    const tmux = new TestTmux();
    cleanup.push(() => home.remove(), () => tmux.kill());
    const { orchestrator } = await createTestOrchestrator(home, {
      providers: ["shell", "aider"],
      tmux: { socketName: tmux.socketName },
      plugins: [shellProvider, ...team()],
      disablePlugins: ["relay-http"],
    });
    cleanup.push(() => orchestrator.stop());
    await orchestrator.start();
    expect(orchestrator.providers().has("aider")).toBe(true);
    await orchestrator.spawn({ provider: "shell", label: "worker", prompt: JSON.stringify(["sleep", "60"]) });
    expect(await orchestrator.dispatch({ action: "pin", agent: "worker", note: "ship it" }, { messageId: 1, createdAt: Date.now() })).toMatchObject({ ok: true, message: "pinned to ar-shell-worker" });
    expect(orchestrator.report()).toEqual([expect.objectContaining({ label: "worker", pinned: "ship it", detail: "pinned: ship it" })]);
    expect(await orchestrator.dispatch({ action: "pin", agent: "nobody", note: "x" })).toMatchObject({ ok: false, code: "not_found" });
    expect(await orchestrator.dispatch({ action: "pin", agent: "worker", note: 7 })).toMatchObject({ ok: false, code: "invalid" });
  });
});
