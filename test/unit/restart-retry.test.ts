import { afterEach, expect, it } from "vitest";
import type { Orchestrator, SpawnSpec } from "../../core/index.js";
import { TestHome } from "../support/env.js";
import { createTestOrchestrator, testBuiltins } from "../support/orchestrator.js";
import { readyBackend } from "../support/providers.js";

// A restart stops the old agent, then starts a new one. When that start fails
// for a passing reason (the backend hiccups), retrying the restart control
// would find no agent to restart: the restart itself must try the start again,
// or the agent is lost.
let home: TestHome | undefined;
let core: Orchestrator | undefined;
afterEach(async () => {
  await core?.stop();
  home?.remove();
});

it("a restart whose new start fails once for a passing reason tries it again: the agent is back, not lost", async () => {
  home = new TestHome();
  const started: SpawnSpec[] = [];
  const failures: string[] = [];
  const builtins = testBuiltins(home, { without: ["tmux", "relay-http"] });
  // the 2nd start fails: the first is the spawn, the second the restart's
  ({ orchestrator: core } = await createTestOrchestrator(home, { providers: ["claude"], logLevel: "silent", startupPollMs: 5 }, { builtins: [...builtins, readyBackend(started, { failEvery: 2, failures })] }));
  await core.start();
  const { agent } = await core.spawn({ provider: "claude", label: "keep" });
  const answer = await core.dispatch({ action: "restart", agentId: "keep" });
  expect(failures).toEqual([agent.session]); // the restart's first start did fail
  expect(answer).toMatchObject({ ok: true, action: "restart", agents: [{ session: agent.session, label: "keep", status: "ready" }] });
  expect(core.agents().map((a) => a.label)).toEqual(["keep"]);
  expect(started.map((s) => s.sessionName)).toEqual([agent.session, agent.session]);
});
