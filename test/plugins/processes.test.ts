import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { defineProvider, definePlugin, type AgentBackend } from "../../core/index.js";
import { FAKE_BIN, TestHome } from "../support/env.js";
import { createTestOrchestrator } from "../support/orchestrator.js";
import { killProcessesWith, processesWith } from "../support/procs.js";
import { shellProvider } from "../support/providers.js";
import { TestTmux } from "../support/tmux.js";
import { waitFor } from "../support/wait.js";

// An agent that ignores Ctrl-C, SIGHUP and SIGTERM, forks, and may escape its
// process group with setsid: stop and restart must still end all of it.
// Each test tags its agents' env with its own home, and finds (and at the end
// kills) only processes carrying that tag.

let home: TestHome;
let tmux: TestTmux;
const running: Array<{ stop(): Promise<void> }> = [];

beforeEach(() => {
  home = new TestHome();
  tmux = new TestTmux();
});
afterEach(async () => {
  for (const o of running.splice(0)) await o.stop();
  tmux.kill();
  killProcessesWith("TEST_TAG", home.root);
  await waitFor("the test's processes to end", () => processesWith("TEST_TAG", home.root).length === 0);
  home.remove();
});

async function start() {
  const harness = await createTestOrchestrator(home, {
    providers: ["shell"],
    env: { TEST_TAG: home.root },
    tmux: { socketName: tmux.socketName },
    plugins: [shellProvider],
    disablePlugins: ["relay-http"],
  });
  running.push(harness.orchestrator);
  await harness.orchestrator.start();
  return harness;
}

const tagged = () => processesWith("TEST_TAG", home.root);
const stubborn = (...args: string[]) => JSON.stringify([join(FAKE_BIN, "stubborn"), ...args]);
const nonceOf = (session: string) => (JSON.parse(readFileSync(join(home.stateDir, "procs", `${session}.json`), "utf8")) as { nonce: string }).nonce;

describe("stopping an agent stops all of it", () => {
  it("stop ends an agent that ignores INT, HUP and TERM, its child and a setsid escapee; none is left", async () => {
    const { orchestrator } = await start();
    const { agent } = await orchestrator.spawn({ provider: "shell", label: "mule", prompt: stubborn("escape") });
    // the agent, its child and the escapee (each with its sleep) run, all marked with this start's nonce
    const before = await waitFor("three lasting processes", () => {
      const found = tagged().filter((p) => p.env.get("AGENT_RELAY_SESSION") === "ar-shell-mule");
      return new Set(found.map((p) => p.sid)).size === 2 && found.length >= 3 ? found : undefined;
    });
    const nonce = nonceOf("ar-shell-mule");
    expect(before.every((p) => p.env.get("AGENT_RELAY_NONCE") === nonce)).toBe(true);
    // a process group and session of its own, led by the pane's process (not the daemon's); the escapee left both
    const inSession = before.filter((p) => p.sid === agent.pid);
    expect(inSession.length).toBeGreaterThanOrEqual(2);
    expect(inSession.every((p) => p.pgrp === agent.pid)).toBe(true);
    expect(before.some((p) => p.sid !== agent.pid && p.pgrp !== agent.pid)).toBe(true);
    expect(agent.pid).not.toBe(process.pid);
    const record = JSON.parse(readFileSync(join(home.stateDir, "procs", "ar-shell-mule.json"), "utf8")) as { cgroup?: string };
    if (record.cgroup) expect(before.every((p) => p.cgroup.includes(`/agent-relay/ar-shell-mule.${nonce}`))).toBe(true);

    await orchestrator.stopAgent(agent);
    expect(tagged()).toEqual([]);
    expect(tmux.sessions()).toEqual([]);
    expect(orchestrator.agents()).toEqual([]);
    if (record.cgroup) expect(existsSync(record.cgroup)).toBe(false);
  });

  it("an agent that ignores its provider's stop keys is killed once the grace is over, not before", async () => {
    // It notes when Ctrl-C (INT) and the kill's first signals (TERM, or HUP as its pane goes) reach it, and carries on.
    const notes = join(home.root, "mule");
    const script = `trap 'date +%s%3N >> ${notes}.int' INT; trap 'date +%s%3N >> ${notes}.kill' TERM HUP; echo "mule running"; while :; do sleep 0.1; done`;
    const mule = defineProvider({
      name: "mule",
      command: () => ({ command: ["sh", "-c", script] }),
      ready: { all: ["mule running"] },
      stop: { keys: [["C-c"]], graceMs: 2_000 },
    });
    const { orchestrator, logs } = await createTestOrchestrator(home, {
      providers: ["mule"],
      env: { TEST_TAG: home.root },
      tmux: { socketName: tmux.socketName },
      plugins: [mule],
      disablePlugins: ["relay-http"],
    });
    running.push(orchestrator);
    await orchestrator.start();
    const { agent } = await orchestrator.spawn({ provider: "mule", label: "m" });
    expect(agent.status).toBe("ready");
    await orchestrator.stopAgent(agent);
    expect(logs.some((l) => /ar-mule-m did not exit within 2000 ms; killing it/.test(l))).toBe(true);
    const [asked] = readFileSync(`${notes}.int`, "utf8").trim().split("\n").map(Number);
    const [killed] = readFileSync(`${notes}.kill`, "utf8").trim().split("\n").map(Number);
    // asked first, then given the grace (less the time the note of Ctrl-C may lag) before the kill began
    expect(killed! - asked!).toBeGreaterThanOrEqual(1_500);
    expect(tagged()).toEqual([]);
    expect(tmux.sessions()).toEqual([]);
  });

  it("restart ends the old copy, escapee included, before the new one starts: one copy runs", async () => {
    const { orchestrator } = await start();
    const { agent } = await orchestrator.spawn({ provider: "shell", label: "mule", prompt: stubborn("escape") });
    await waitFor("the escapee", () => new Set(tagged().map((p) => p.sid)).size === 2);
    const oldNonce = nonceOf("ar-shell-mule");
    const restarted = await orchestrator.restart(agent);
    expect(restarted.pid).not.toBe(agent.pid);
    const newNonce = nonceOf("ar-shell-mule");
    expect(newNonce).not.toBe(oldNonce);
    expect(tagged().filter((p) => p.env.get("AGENT_RELAY_NONCE") === oldNonce)).toEqual([]);
    await waitFor("the new copy's escapee", () => new Set(tagged().map((p) => p.sid)).size === 2);
    expect(new Set(tagged().map((p) => p.env.get("AGENT_RELAY_NONCE")))).toEqual(new Set([newNonce]));
    await orchestrator.stopAgent(restarted);
    expect(tagged()).toEqual([]);
  });

  it("an agent that exited leaving a child that ignores HUP: that child is ended with the agent's session", async () => {
    const { orchestrator } = await start();
    const script = "trap '' HUP TERM; sh -c 'while :; do sleep 1; done' & exit 3";
    const { agent } = await orchestrator.spawn({ provider: "shell", label: "leaver", prompt: JSON.stringify(["sh", "-c", script]) });
    await waitFor("the agent to be seen exited", async () => {
      await orchestrator.watchOnce();
      return orchestrator.agents().find((a) => a.session === agent.session)?.status === "exited";
    });
    expect(tagged().length).toBeGreaterThan(0); // the orphan lives on
    await orchestrator.stopAgent(orchestrator.agents()[0]!);
    expect(tagged()).toEqual([]);
  });

  it("a process that outlives SIGKILL is reported: stop fails naming it, and restart does not start a second copy", async () => {
    const starts: string[] = [];
    const sessions = new Set<string>();
    // A backend whose agents leave a process that cannot be killed (as one stuck in the kernel would).
    const stubbornBackend = definePlugin({
      name: "stubborn-backend",
      role: "backend",
      apply(ctx) {
        const backend: AgentBackend = {
          async start(spec) {
            starts.push(spec.sessionName);
            sessions.add(spec.sessionName);
            return { pid: 4242 };
          },
          async list() {
            return [...sessions].map((name) => ({ name, dead: false }));
          },
          async stop() {
            return { leftovers: [{ pid: 4243, name: "unkillable" }] };
          },
          async capture() {
            return [];
          },
          async screens(names) {
            return new Map(names.map((name) => [name, { lines: [], dead: false }]));
          },
          async sendKeys() {},
        };
        ctx.provideBackend(backend);
      },
    });
    const { orchestrator, logs } = await createTestOrchestrator(
      home,
      { providers: ["shell"], plugins: [shellProvider] },
      { builtins: [stubbornBackend] },
    );
    running.push(orchestrator);
    const { agent } = await orchestrator.spawn({ provider: "shell", label: "stuck" });
    await expect(orchestrator.restart(agent)).rejects.toThrow(/could not stop all of ar-shell-stuck: still alive after SIGKILL: 4243 \(unkillable\)/);
    expect(starts).toEqual(["ar-shell-stuck"]);
    await expect(orchestrator.stopAgent(agent)).rejects.toThrow(/4243 \(unkillable\)/);
    expect(logs.some((l) => /ar-shell-stuck: 1 process\(es\) still alive after SIGKILL: 4243 \(unkillable\)/.test(l))).toBe(true);
  });
});
