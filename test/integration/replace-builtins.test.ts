import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { TestDaemon } from "../support/daemon.js";
import { FAKE_BIN, FIXTURES, TestHome } from "../support/env.js";
import { killProcessesWith, processesWith } from "../support/procs.js";
import type { TestRelay } from "../support/relay.js";
import { useRig } from "../support/rig.js";
import { TestTmux } from "../support/tmux.js";
import { waitFor } from "../support/wait.js";

// Each built-in replaced by role with a user plugin in an orchestrator.config.ts
// that imports only the package's public API (test/fixtures/config/replace-builtins/),
// through the real daemon, real tmux and a relay: the protocol's guarantees still
// hold, or the daemon refuses to start saying what the replacement must provide.

const TOKEN = "relay-secret-replace-8c21d";
const SERVICE_TOKEN = "service-secret-0b7e44";
const CONFIGS = join(FIXTURES, "config", "replace-builtins");
const rig = useRig({ token: TOKEN, extensions: true });
let home: TestHome;
let tmux: TestTmux;
let relay: TestRelay;
beforeEach(() => {
  ({ home, tmux, relay } = rig);
  rig.onTearDown(() => killProcessesWith("TEST_TAG", home.root));
});

/** A daemon with one of the fixture configs (a file name), or with the harness's JSON file plus `file`. */
function daemon(config: string | { file: Record<string, unknown> }, env: Record<string, string> = {}): TestDaemon {
  const configEnv: Record<string, string> = typeof config === "string" ? { AGENT_RELAY_ORCHESTRATOR_CONFIG: join(CONFIGS, config) } : {};
  return rig.daemon({ token: TOKEN, env: { TEST_TAG: home.root, ...configEnv, ...env }, ...(typeof config === "string" ? {} : { file: config.file }) });
}

/** Waits for a daemon to exit on its own, before it registered; its output. */
async function refusedAtStart(d: TestDaemon, code: number): Promise<string> {
  expect(await d.waitForExit(30_000)).toBe(code);
  expect(relay.orchestrators.size).toBe(0);
  expect(tmux.sessions()).toEqual([]);
  return d.logs.join("\n");
}

const registered = () => waitFor("registration", () => relay.orchestrators.get("box"), 20_000);
const agent = (label: string) => relay.reported("box").find((a) => a.label === label);
const tagged = () => processesWith("TEST_TAG", home.root);
const starts = (label: string) =>
  existsSync(home.transcript)
    ? readFileSync(home.transcript, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as { event: string; env?: Record<string, string> })
        .filter((e) => e.event === "start" && e.env?.AGENT_RELAY_LABEL === label)
    : [];

describe("the backend (tmux) replaced by a user plugin", () => {
  it("tmux composed from its exported factory: exits are seen, agents are adopted after a restart, and no process outlives its agent", async () => {
    const env = { AGENT_RELAY_ORCHESTRATOR_PROVIDERS: "claude,stubborn", STUBBORN_BIN: join(FAKE_BIN, "stubborn") };
    const first = daemon("backend.config.ts", env);
    await rig.registered();
    relay.sendControl("box", { action: "spawn", provider: "claude", label: "alice" });
    relay.sendControl("box", { action: "spawn", provider: "stubborn", label: "mule" });
    await waitFor("both agents ready", () => agent("alice")?.status === "ready" && agent("mule")?.status === "ready", 30_000);
    expect(first.logs.filter((l) => /logged-tmux starts/.test(l)).length).toBe(2); // the replacement started them
    expect(tmux.sessions()).toEqual(["ar-claude-alice", "ar-stubborn-mule"]);

    // Exit detection: alice's process dies; she is reported exited with its status.
    for (const p of tagged().filter((p) => p.env.get("AGENT_RELAY_LABEL") === "alice")) process.kill(p.pid, "SIGKILL");
    await waitFor("alice reported exited", () => agent("alice")?.status === "exited", 20_000);
    expect(agent("alice")).toMatchObject({ exitCode: 137 });

    // Adoption: a daemon killed with -9 and started again takes mule over as it runs, without starting it again.
    const mule = agent("mule")!;
    await first.kill9();
    relay.reports.clear();
    relay.forgetOrchestrators();
    const second = daemon("backend.config.ts", env);
    await waitFor("mule reported again", () => agent("mule")?.status === "ready", 30_000);
    expect(agent("mule")).toMatchObject({ pid: mule.pid, startedAt: mule.startedAt, tmuxSession: "ar-stubborn-mule" });
    expect(second.logs.some((l) => /logged-tmux starts/.test(l))).toBe(false);
    expect(starts("alice")).toHaveLength(1);

    // Clean-up: mule ignores INT, HUP and TERM and has a child in a session of its own; shutdown ends all of them.
    const ofMule = () => tagged().filter((p) => p.env.get("AGENT_RELAY_SESSION") === "ar-stubborn-mule");
    await waitFor("mule's escaped child", () => new Set(ofMule().map((p) => p.sid)).size === 2);
    const shutdown = relay.sendControl("box", { action: "shutdown", agentId: "mule" });
    await waitFor("the shutdown answered", () => relay.results.get(shutdown), 30_000);
    expect(relay.results.get(shutdown)).toMatchObject({ ok: true, message: "stopped ar-stubborn-mule" });
    expect(ofMule()).toEqual([]);
    expect(tmux.sessions()).toEqual(["ar-claude-alice"]); // the exited one's session, kept to show how it ended
  }, 120_000);

  it("a backend lacking methods, or none at all: the daemon refuses to start, naming what is missing", async () => {
    const bare = await refusedAtStart(daemon("bare-backend.config.ts"), 1);
    expect(bare).toMatch(
      /plugin "bare-backend" failed in apply: the agent backend it provides has no capture, screens, sendKeys \(it must have the methods start, list, stop, capture, screens, sendKeys\)/,
    );
    const none = await refusedAtStart(daemon({ file: { disablePlugins: ["tmux"] } }), 2);
    expect(none).toMatch(/no plugin provides the agent backend \(role "backend"\): a replacement must call ctx\.provideBackend with start, list, stop, capture, screens, sendKeys/);
  }, 60_000);
});

describe("the env policy replaced by a user plugin that drops everything", () => {
  it("the agent still gets the protocol's AGENT_RELAY_* variables, and secrets in its env are redacted from reports and logs", async () => {
    const d = daemon("env-policy.config.ts", {
      AGENT_RELAY_ORCHESTRATOR_PROVIDERS: "envcheck",
      AGENT_RELAY_ORCHESTRATOR_HOSTNAME: "replace-host",
      MY_SERVICE_TOKEN: SERVICE_TOKEN,
    });
    await rig.registered();
    relay.sendControl("box", { action: "spawn", provider: "envcheck", label: "envy" });
    await waitFor("envy ready", () => agent("envy")?.status === "ready", 30_000);

    // What the agent printed of its environment (the test reads the real screen).
    const env = tmux.capture("ar-envcheck-envy").split("\n").filter((l) => /^[A-Z_]+=/.test(l));
    const value = (name: string) => env.find((l) => l.startsWith(`${name}=`))?.slice(name.length + 1);
    expect(value("AGENT_RELAY_URL")).toBe(relay.url);
    expect(value("AGENT_RELAY_TOKEN")).toBe(TOKEN);
    expect(value("AGENT_RELAY_LABEL")).toBe("envy");
    expect(value("AGENT_RELAY_TAGS")).toBe("headless,dashboard-spawned,replace-host");
    expect(value("MY_SERVICE_TOKEN")).toBe(SERVICE_TOKEN);
    expect(value("HOME")).toBeUndefined(); // the policy really dropped the rest

    // It prints both tokens and exits: its last lines reach the relay, redacted.
    tmux.run("send-keys", "-t", "=ar-envcheck-envy:", "go", "Enter");
    await waitFor("envy reported exited", () => agent("envy")?.status === "exited", 20_000);
    expect(agent("envy")).toMatchObject({ exitCode: 3 });
    expect(agent("envy")!.lastLines).toEqual(expect.arrayContaining(["relay token: ***", "service token: ***"]));
    const seen = JSON.stringify([...relay.reports.values(), ...relay.results.values()]) + d.logs.join("\n");
    expect(seen).not.toContain(TOKEN);
    expect(seen).not.toContain(SERVICE_TOKEN);
  }, 60_000);
});

describe("the controls replaced by a user plugin declaring spawn, restart and shutdown", () => {
  it("each control runs once though delivered again and again, and controls about one agent run in order", async () => {
    const log = join(home.root, "controls.log");
    daemon("controls.config.ts", { CONTROLS_LOG: log });
    await rig.registered();
    relay.dropAcks = true;
    relay.replay = true; // every poll returns every message again

    const spawnAlice = relay.sendControl("box", { action: "spawn", label: "alice", pauseMs: 1500 });
    // Sent while alice's spawn is still under way (she exists, her spawn pauses): it waits for it.
    await waitFor("alice's session", () => tmux.sessions().includes("ar-claude-alice"), 30_000);
    const stopAlice = relay.sendControl("box", { action: "shutdown", agentId: "alice" });
    const spawnBob = relay.sendControl("box", { action: "spawn", label: "bob" });
    const ids = [spawnAlice, stopAlice, spawnBob];
    await waitFor("every answer", () => ids.every((id) => relay.results.has(id)), 30_000);
    await waitFor("each delivered and acked again after its answer", () => ids.every((id) => relay.ackCount(id) >= 2), 30_000);
    await relay.polls(3);

    expect(ids.map((id) => relay.results.get(id))).toEqual([
      expect.objectContaining({ ok: true, message: "spawned ar-claude-alice" }),
      expect.objectContaining({ ok: true, message: "stopped alice" }),
      expect.objectContaining({ ok: true, message: "spawned ar-claude-bob" }),
    ]);
    const lines = readFileSync(log, "utf8").trim().split("\n");
    expect([...lines].sort()).toEqual(["spawned alice", "spawned bob", "stopped alice"]);
    expect(lines.indexOf("spawned alice")).toBeLessThan(lines.indexOf("stopped alice"));
    expect(tmux.sessions()).toEqual(["ar-claude-bob"]);
    expect(starts("alice")).toHaveLength(1);
  }, 90_000);

  it("with no plugin declaring them, the daemon refuses to start, naming the actions and how to declare them", async () => {
    const out = await refusedAtStart(daemon({ file: { disablePlugins: ["controls"] } }), 2);
    expect(out).toMatch(/no plugin declares the control actions spawn, restart, shutdown of protocol v2 \(role "controls"\)/);
    expect(out).toMatch(/ctx\.provideControl\(defineControl\(\{ action, fields, key, handle \}\)\)/);
  }, 60_000);
});

describe("the transport (relay-http) replaced by a user plugin", () => {
  it("relay-http composed from its exported factory: heartbeats go through it, and a control delivered again and again runs once", async () => {
    const d = daemon("transport.config.ts");
    await rig.registered();
    await waitFor("heartbeats through the replacement", () => (relay.heartbeats.get("box") ?? 0) >= 2, 20_000);
    expect(d.logs.filter((l) => /logged-transport: heartbeat/.test(l)).length).toBeGreaterThanOrEqual(2);

    relay.dropAcks = true;
    relay.replay = true;
    // With `replace`, each run would start the agent anew: a second run would show.
    const spawn = relay.sendControl("box", { action: "spawn", provider: "claude", label: "solo", replace: true });
    await waitFor("the answer", () => relay.results.get(spawn), 30_000);
    await waitFor("delivered and acked again", () => relay.ackCount(spawn) >= 3, 30_000);
    expect(relay.results.get(spawn)).toMatchObject({ ok: true, action: "spawn" });
    expect(d.logs.filter((l) => /logged-transport: ack/.test(l)).length).toBeGreaterThanOrEqual(3);
    expect(tmux.sessions()).toEqual(["ar-claude-solo"]);
    expect(starts("solo")).toHaveLength(1);
  }, 60_000);

  it("no transport, or one that lost its methods: the daemon refuses to start, naming what is missing", async () => {
    const none = await refusedAtStart(daemon({ file: { disablePlugins: ["relay-http"] } }), 2);
    expect(none).toMatch(
      /no plugin provides the relay transport \(role "transport"\): a replacement must call ctx\.provideTransport with register, heartbeat, latestMessageId, fetchMessages, ack, report/,
    );
    const spread = await refusedAtStart(daemon("spread-transport.config.ts"), 1);
    expect(spread).toMatch(/plugin "spread-transport" failed in apply: the relay transport it provides has no register, heartbeat, latestMessageId, fetchMessages, ack, report \(it must have the methods/);
  }, 60_000);
});
