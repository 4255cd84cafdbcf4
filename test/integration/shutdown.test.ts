import { beforeEach, describe, expect, it } from "vitest";
import { TestHome } from "../support/env.js";
import type { TestRelay } from "../support/relay.js";
import { useRig } from "../support/rig.js";
import { TestTmux } from "../support/tmux.js";
import { waitFor } from "../support/wait.js";

// How the daemon ends, and the 0.9.0 codex-relay bridge's start: real daemon
// process, real tmux, a relay that takes answers, the fake agent CLIs.

const rig = useRig({ extensions: true });
let home: TestHome;
let tmux: TestTmux;
let relay: TestRelay;
beforeEach(() => ({ home, tmux, relay } = rig));

const daemon = (options: { file?: Record<string, unknown>; args?: string[] } = {}) => rig.daemon(options);

describe("shutting the daemon down", () => {
  it("with --stop-agents, SIGTERM stops every agent gracefully (each exits on Ctrl-C), then reports none", async () => {
    const d = daemon({ args: ["--stop-agents"] });
    await rig.registered();
    await rig.answered([relay.sendControl("box", { action: "spawn", label: "one" }), relay.sendControl("box", { action: "spawn", provider: "codex", label: "two" })]);
    expect(tmux.sessions()).toEqual(["ar-claude-one", "ar-codex-two"]);
    expect(await d.terminate("SIGTERM")).toBe(0);
    expect(tmux.sessions()).toEqual([]);
    // each agent was asked (Ctrl-C) and exited on its own, not killed
    expect(rig.events().filter((e) => e.event === "exit").map((e) => e.code)).toEqual([0, 0]);
    expect(relay.reported("box")).toEqual([]);
    expect(d.logs.some((l) => /SIGTERM: stopping \(and the agents\)/.test(l))).toBe(true);
  });

  it("a control still running when SIGTERM arrives is finished, answered and acknowledged before the daemon exits", async () => {
    const d = daemon({ file: { env: { FAKE_CLAUDE_START_DELAY_MS: "2500" } } });
    await rig.registered();
    const id = relay.sendControl("box", { action: "spawn", label: "in-flight", prompt: "finish me" });
    await waitFor("the agent starting", () => rig.events().some((e) => e.event === "start"));
    expect(relay.results.has(id)).toBe(false); // still starting: its answer waits for the ready screen
    expect(await d.terminate("SIGTERM")).toBe(0);
    expect(relay.results.get(id)).toMatchObject({ ok: true, message: "spawned ar-claude-in-flight", agents: [{ status: "ready" }] });
    expect(relay.ackCount(id)).toBe(1);
    expect(rig.events().filter((e) => e.event === "prompt").map((e) => e.text)).toEqual(["finish me"]);
    expect(tmux.sessions()).toEqual(["ar-claude-in-flight"]); // the agent keeps running (no --stop-agents)
  });
});

describe("the codex-relay launcher (0.9.0's bridge)", () => {
  it("starts the bridge headless against this relay, is ready once it prints, and stops it with Ctrl-C", async () => {
    daemon({ file: { codex: { launcher: "codex-relay" } } });
    await rig.registered();
    const spawn = relay.sendControl("box", { action: "spawn", provider: "codex", label: "bridge" });
    await rig.answered([spawn]);
    expect(relay.results.get(spawn)).toMatchObject({ ok: true, message: "spawned ar-codex-bridge", agents: [{ status: "ready", provider: "codex" }] });
    const [start] = rig.events().filter((e) => e.event === "start");
    expect(start).toMatchObject({ args: ["--headless", "--relay-url", relay.url], headless: "1" });
    expect(tmux.screen("ar-codex-bridge")).toContain(`codex-relay: headless bridge for bridge -> ${relay.url}`);
    const stop = relay.sendControl("box", { action: "shutdown", agentId: "bridge" });
    await rig.answered([stop]);
    expect(relay.results.get(stop)).toMatchObject({ ok: true, message: "stopped ar-codex-bridge" });
    expect(rig.events().filter((e) => e.event === "exit")).toEqual([expect.objectContaining({ code: 0 })]);
    expect(tmux.sessions()).toEqual([]);
  });
});
