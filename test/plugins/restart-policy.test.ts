import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Orchestrator } from "../../core/index.js";
import { backoff } from "../../plugins/restart-policy/index.js";
import { TestHome } from "../support/env.js";
import { createTestOrchestrator } from "../support/orchestrator.js";
import { shellProvider } from "../support/providers.js";
import { TestTmux } from "../support/tmux.js";
import { sleep, waitFor } from "../support/wait.js";

let home: TestHome;
let tmux: TestTmux;
let orchestrator: Orchestrator;

beforeEach(async () => {
  home = new TestHome();
  tmux = new TestTmux();
  ({ orchestrator } = await createTestOrchestrator(home, {
    providers: ["shell"],
    tmux: { socketName: tmux.socketName },
    plugins: [shellProvider],
    disablePlugins: ["relay-http"],
    restarts: { minBackoffMs: 100, maxBackoffMs: 400, healthyAfterMs: 60_000, crashLoopAfter: 3 },
  }));
  await orchestrator.start();
});
afterEach(async () => {
  await orchestrator.stop();
  tmux.kill();
  home.remove();
});

const run = (script: string) => JSON.stringify(["/bin/sh", "-c", script]);
const agent = (label: string) => orchestrator.report().find((a) => a.label === label);

describe("restart policy", () => {
  it("on-failure: restarts a failing agent with growing backoff, counts restarts, and reports a crash loop", async () => {
    await orchestrator.spawn({ provider: "shell", label: "crashy", prompt: run("sleep 0.1; exit 2"), meta: { restartPolicy: "on-failure" } });
    await waitFor("three restarts", () => (agent("crashy")?.restarts ?? 0) >= 3, 10_000);
    await waitFor("it to exit again", () => agent("crashy")?.status === "exited");
    expect(agent("crashy")).toMatchObject({ status: "exited", exitCode: 2, detail: expect.stringMatching(/^crash-looping: restarted \d+ times in a row; exited with status 2.*; restart \d+ in [\d.]+ s \(policy on-failure\)$/) });
  });

  it("on-failure leaves an agent that exited 0; always restarts it; never (the default) leaves any", async () => {
    await orchestrator.spawn({ provider: "shell", label: "done", prompt: run("exit 0"), meta: { restartPolicy: "on-failure" } });
    await orchestrator.spawn({ provider: "shell", label: "again", prompt: run("sleep 0.1; exit 0"), meta: { restartPolicy: "always" } });
    await orchestrator.spawn({ provider: "shell", label: "plain", prompt: run("exit 1") });
    await waitFor("always to restart", () => (agent("again")?.restarts ?? 0) >= 1, 15_000);
    await sleep(800);
    expect(agent("done")).toMatchObject({ status: "exited", exitCode: 0 });
    expect(agent("done")!.restarts).toBeUndefined();
    expect(agent("plain")).toMatchObject({ status: "exited", exitCode: 1 });
    expect(agent("plain")!.restarts).toBeUndefined();
  });

  it("never restarts an agent stopped on purpose, even with a restart already scheduled", async () => {
    await orchestrator.spawn({ provider: "shell", label: "stopme", prompt: run("sleep 600"), meta: { restartPolicy: "always" } });
    await orchestrator.stopAgent(orchestrator.agents()[0]!);
    await sleep(600);
    expect(orchestrator.report()).toEqual([]);
    expect(tmux.sessions()).toEqual([]);

    // A restart pending for 1.5-3 s when the agent is stopped; then the same label runs again and ends,
    // wanting no restart: only the cancelled timer of the stopped agent could restart it (it would find
    // an exited "pending" when it fires).
    await orchestrator.stop();
    ({ orchestrator } = await createTestOrchestrator(home, {
      id: "slow-backoff",
      providers: ["shell"],
      tmux: { socketName: tmux.socketName },
      plugins: [shellProvider],
      disablePlugins: ["relay-http"],
      restarts: { minBackoffMs: 3_000, maxBackoffMs: 3_000 },
    }));
    await orchestrator.start();
    await orchestrator.spawn({ provider: "shell", label: "pending", prompt: run("exit 3"), meta: { restartPolicy: "always" } });
    await waitFor("the exit, with a restart scheduled", () => agent("pending")?.status === "exited" && /restart 1 in/.test(agent("pending")!.detail ?? ""));
    await orchestrator.stopAgent(orchestrator.agents().find((a) => a.label === "pending")!);
    const marker = join(home.root, "pending-runs");
    await orchestrator.spawn({ provider: "shell", label: "pending", prompt: run(`echo run >> ${marker}; exit 0`), meta: { restartPolicy: "never" } });
    await waitFor("the second run to end", () => agent("pending")?.status === "exited");
    await sleep(3_200); // past the stopped agent's restart time
    expect(readFileSync(marker, "utf8")).toBe("run\n");
    expect(agent("pending")!.restarts).toBeUndefined();
  });
});

describe("restart count", () => {
  it("starts again from zero after an agent ran healthy long enough", async () => {
    await orchestrator.stop();
    ({ orchestrator } = await createTestOrchestrator(home, {
      id: "healthy",
      providers: ["shell"],
      tmux: { socketName: tmux.socketName },
      plugins: [shellProvider],
      disablePlugins: ["relay-http"],
      restarts: { minBackoffMs: 100, maxBackoffMs: 400, healthyAfterMs: 300 },
    }));
    await orchestrator.start();
    await orchestrator.spawn({ provider: "shell", label: "steady", prompt: run("sleep 0.5; exit 1"), meta: { restartPolicy: "on-failure" } });
    const exits: number[] = [];
    orchestrator.hooks.onAgentExit.tap("test", (a) => void exits.push(Number(a.meta.restarts ?? 0)));
    await waitFor("three exits", () => exits.length >= 3, 10_000);
    expect(exits.slice(0, 3)).toEqual([0, 1, 1]); // never 2: each run was long enough to count as healthy
  });
});

describe("restart backoff", () => {
  it("doubles from the minimum to the cap, with jitter in the upper half", () => {
    for (let n = 0; n < 12; n++) {
      const ceiling = Math.min(300_000, 1_000 * 2 ** n);
      for (let i = 0; i < 50; i++) {
        const wait = backoff(n, 1_000, 300_000);
        expect(wait).toBeGreaterThanOrEqual(ceiling / 2);
        expect(wait).toBeLessThanOrEqual(ceiling);
      }
    }
    expect(new Set(Array.from({ length: 20 }, () => backoff(5, 1_000, 300_000))).size).toBeGreaterThan(1);
  });
});
