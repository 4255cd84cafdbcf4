import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { TestDaemon } from "../support/daemon.js";
import { TestHome } from "../support/env.js";
import { TestRelay } from "../support/relay.js";
import { useRig } from "../support/rig.js";
import { TestTmux } from "../support/tmux.js";
import { waitFor } from "../support/wait.js";

const TOKEN = "relay-secret-6f1d2a";
const rig = useRig({ token: TOKEN });
let home: TestHome;
let tmux: TestTmux;
let relay: TestRelay;
beforeEach(() => ({ home, tmux, relay } = rig));

const daemon = (options: Parameters<typeof rig.daemon>[0] = {}) => rig.daemon({ token: TOKEN, ...options });
const reportedSessions = () => relay.reported("box").map((a) => a.tmuxSession as string).sort();
const events = (name: string) => rig.events().filter((e) => e.event === name);

describe("the daemon against a plain protocol-v2 relay, configured with 0.9.0's env vars", () => {
  it("registers, spawns from a control, reports, restarts with the same prompt, shuts down, and cleans relay records", async () => {
    const d = daemon();
    const registration = await rig.registered();
    // the relay offers no extensions: the daemon polls at its interval
    expect(await d.waitForLog(/registered as box/)).toMatch(/; polling every 1000 ms$/);
    await waitFor("a poll", () => relay.requests.some((r) => r.path === "/api/messages" && r.method === "GET"));
    expect(registration).toMatchObject({
      id: "box",
      providers: ["claude", "codex"],
      baseDir: home.baseDir,
      envKeys: ["IS_SANDBOX", "FAKE_CLAUDE_TRANSCRIPT", "FAKE_CODEX_TRANSCRIPT"],
      protocolVersion: 2,
      meta: { tmuxPrefix: "ar", protocolVersion: 2 },
    });
    expect(JSON.stringify(registration)).not.toContain(home.transcript); // names only, never values
    expect(relay.requests.every((r) => r.token === TOKEN)).toBe(true);

    const spawnId = relay.sendControl("box", { action: "spawn", provider: "claude", cwd: home.project, label: "Web UI", prompt: "hello there" });
    await waitFor("the agent reported ready", () => relay.reported("box")[0]?.status === "ready" && relay.ackCount(spawnId) === 1);
    expect(tmux.sessions()).toEqual(["ar-claude-web-ui"]);
    const [report] = relay.reported("box");
    expect(report).toMatchObject({ agentId: "", provider: "claude", tmuxSession: "ar-claude-web-ui", cwd: home.project, label: "Web UI", approvalMode: "guarded", status: "ready" });
    expect(report!.timeToReadyMs).toBeGreaterThanOrEqual(0);
    expect(report!.pid).toBeGreaterThan(0);
    await waitFor("the prompt", () => events("prompt").length === 1);
    expect(relay.ackCount(spawnId)).toBe(1);

    // relay records the agent registered for itself, and one that is not ours
    relay.agents.set("rec-1", { id: "rec-1", label: "Web UI", tags: ["headless", "dashboard-spawned", "h"], meta: { cwd: home.project, provider: "claude" } });
    relay.agents.set("rec-other", { id: "rec-other", label: "Web UI", tags: ["claude"], meta: { cwd: home.project } });

    const firstPid = report!.pid;
    const restartId = relay.sendControl("box", { action: "restart", agentId: "Web UI" });
    await waitFor("the restarted agent", () => relay.reported("box")[0]?.pid !== firstPid && relay.ackCount(restartId) === 1);
    await waitFor("the prompt again", () => events("prompt").length === 2);
    expect(events("prompt").map((e) => e.text)).toEqual(["hello there", "hello there"]);
    expect(tmux.sessions()).toEqual(["ar-claude-web-ui"]);
    expect(relay.deletedAgents).toEqual(["rec-1"]);
    expect([...relay.agents.keys()]).toEqual(["rec-other"]);

    const shutdownId = relay.sendControl("box", { action: "shutdown", agentId: "ar-claude-web-ui" });
    await waitFor("the shutdown", () => relay.ackCount(shutdownId) === 1 && relay.reported("box").length === 0);
    expect(tmux.sessions()).toEqual([]);
  });

  it("answers bad controls once, acknowledges them, never retries them, and keeps working", async () => {
    mkdirSync(join(home.root, "projects-evil"));
    const d = daemon();
    await rig.registered();
    const bad = [
      relay.sendControl("box", { action: "spawn", cwd: join(home.root, "projects-evil") }),
      relay.sendControl("box", { action: "spawn", cwd: `${home.baseDir}/../home` }),
      relay.sendControl("box", { action: "spawn", provider: "gemini" }),
      relay.sendControl("box", { action: "reboot-host" }),
      relay.sendControl("box", "spawn"),
      relay.sendControl("box", { action: "restart", agentId: "nobody" }),
      relay.sendControl("box", { action: "spawn" }, { createdAt: Date.now() - 60 * 60_000 }),
    ];
    await waitFor("every bad control acknowledged", () => bad.every((id) => relay.ackCount(id) === 1));
    await d.waitForLog(/refused \[expired\]/);
    // handled in parallel: compare by message
    const answers = Object.fromEntries(
      d.logs.filter((l) => /refused \[/.test(l)).map((l) => [Number(l.match(/message (\d+) /)![1]), l.replace(/^.*refused /, "")]),
    );
    expect(bad.map((id) => answers[id])).toEqual([
      expect.stringMatching(/^\[cwd\]: cwd .*projects-evil is outside baseDir/),
      expect.stringMatching(/^\[cwd\]: cwd .*home is outside baseDir/),
      '[provider]: provider "gemini" is not enabled on this host (enabled: claude, codex)',
      '[unknown_action]: unknown action "reboot-host"',
      "[invalid]: control payload must be an object",
      '[not_found]: no managed agent matches "nobody"',
      expect.stringMatching(/^\[expired\]: control expired: sent \d+s ago, limit 600s$/),
    ]);
    await relay.polls(2); // two more polls: nothing is handled again
    expect(bad.map((id) => relay.ackCount(id))).toEqual(bad.map(() => 1));
    expect(tmux.sessions()).toEqual([]);
    const ok = relay.sendControl("box", { action: "spawn", label: "after" });
    await waitFor("a good control after the bad ones", () => relay.ackCount(ok) === 1 && tmux.sessions().length === 1);
  });

  it("handles a burst of 13 spawns exactly once each: the poll loop never overlaps itself", async () => {
    daemon();
    await rig.registered();
    const ids = Array.from({ length: 13 }, (_, i) => relay.sendControl("box", { action: "spawn", label: `burst-${i}` }));
    await waitFor("13 agents reported", () => relay.reported("box").length === 13, 20_000);
    // Each is acknowledged once its start is done (this relay takes no answers: the ack is the answer).
    await waitFor("13 acknowledgements", () => ids.every((id) => relay.ackCount(id) >= 1), 30_000);
    await relay.polls(2); // later polls hand out nothing new
    expect(tmux.sessions()).toHaveLength(13);
    expect(ids.map((id) => relay.ackCount(id))).toEqual(ids.map(() => 1));
    expect(events("start")).toHaveLength(13);
  });

  it("reports every agent that died as exited at once, not one a minute", async () => {
    // The safety-net look comes once a minute here: only the exit notices can be this quick.
    daemon({ file: { env: { IS_SANDBOX: "1" }, watchIntervalMs: 60_000 } });
    await rig.registered();
    for (const label of ["d1", "d2", "d3", "live"]) relay.sendControl("box", { action: "spawn", label });
    await waitFor("four agents ready", () => relay.reported("box").filter((a) => a.status === "ready").length === 4);
    for (const s of ["ar-claude-d1", "ar-claude-d2", "ar-claude-d3"]) {
      // the agent process dies (the pane's child); its wrapper records the status and touches the notice
      const pane = tmux.run("display-message", "-p", "-t", `=${s}:`, "#{pane_pid}").trim();
      const child = readFileSync(`/proc/${pane}/task/${pane}/children`, "utf8").trim().split(" ")[0]!;
      process.kill(Number(child), "SIGKILL");
    }
    const statuses = () => relay.reported("box").map((a) => `${a.tmuxSession}=${a.status}`).sort().join(" ");
    await waitFor("the dead ones reported exited", () => statuses() === "ar-claude-d1=exited ar-claude-d2=exited ar-claude-d3=exited ar-claude-live=ready", 10_000);
    expect(relay.reported("box").filter((a) => a.status === "exited").map((a) => a.exitCode)).toEqual([137, 137, 137]);
  });

  it("on SIGTERM stops, sends a final report and leaves the agents running", async () => {
    const d = daemon();
    await rig.registered();
    relay.sendControl("box", { action: "spawn", label: "survivor" });
    await waitFor("the agent", () => relay.reported("box").length === 1);
    await waitFor("the agent reported ready", () => relay.reported("box")[0]?.status === "ready");
    relay.reports.delete("box"); // what the relay holds from now on can only come from the final report
    const sentAt = Date.now();
    expect(await d.terminate("SIGTERM")).toBe(0);
    const finals = relay.requests.filter((r) => r.method === "PATCH" && r.path.endsWith("/agents") && r.at >= sentAt);
    expect(finals.length).toBeGreaterThanOrEqual(1);
    // the final report says what is true at the end: the agent keeps running
    expect(relay.reported("box")).toEqual([expect.objectContaining({ tmuxSession: "ar-claude-survivor", label: "survivor", status: "ready" })]);
    expect(tmux.sessions()).toEqual(["ar-claude-survivor"]);
  });
});

// The crash and relay-fault tests on both paths: plain polling (a protocol-v2
// relay) and long-poll (offered as our relay does, the daemon's default there).
describe.each([
  ["plain polling", false],
  ["long-poll", true],
])("a daemon killed, or its relay down, forgetful or hanging (%s)", (_mode, longPoll) => {
  beforeEach(() => {
    relay.options.longPoll = longPoll; // before any daemon registers
  });

  /** The daemon registered and polls the way this block means. */
  const pollsAsMeant = async (d: TestDaemon) =>
    expect(await d.waitForLog(/registered as box/, 15_000)).toMatch(longPoll ? /; long-poll$/ : /; polling every \d+ ms$/);

  it("reports the same agents after kill -9 and a new start, without duplicate sessions, and runs what came meanwhile", async () => {
    const first = daemon();
    await rig.registered();
    await pollsAsMeant(first);
    relay.sendControl("box", { action: "spawn", provider: "claude", cwd: home.project, label: "Alpha Agent", approvalMode: "full", prompt: "p1" });
    relay.sendControl("box", { action: "spawn", provider: "codex", label: "beta", legacy: true }, { legacyMeta: true });
    await waitFor("two agents reported", () => relay.reported("box").length === 2);
    const stable = (a: Record<string, unknown>) => ({ provider: a.provider, tmuxSession: a.tmuxSession, label: a.label, cwd: a.cwd, approvalMode: a.approvalMode, startedAt: a.startedAt });
    await waitFor("both ready", () => relay.reported("box").every((a) => a.status === "ready"));
    const before = relay.reported("box").map(stable);
    await first.kill9();

    // sent while the daemon is down; and a repeat of a running agent's spawn
    relay.sendControl("box", { action: "spawn", provider: "claude", label: "gamma" });
    const repeat = relay.sendControl("box", { action: "spawn", provider: "claude", cwd: home.project, label: "Alpha Agent" });
    relay.reports.clear();
    relay.forgetOrchestrators();

    daemon();
    await waitFor("three agents reported", () => relay.reported("box").length === 3 && relay.ackCount(repeat) === 1);
    await waitFor("all three ready", () => relay.reported("box").every((a) => a.status === "ready"));
    const after = relay.reported("box").map(stable);
    for (const agent of before) expect(after).toContainEqual(agent);
    expect(tmux.sessions()).toEqual(["ar-claude-alpha-agent", "ar-claude-gamma", "ar-codex-beta"]);
    expect(events("start").filter((e) => (e.env as Record<string, string> | undefined)?.AGENT_RELAY_LABEL === "Alpha Agent")).toHaveLength(1);
  });

  it("waits for a relay that is down at start, re-registers when it forgets us, and survives a relay that hangs", async () => {
    const port = relay.port;
    await relay.stop();
    const d = daemon({ file: { heartbeatIntervalMs: 1000, requestTimeoutMs: 500, env: { IS_SANDBOX: "1" } } });
    await d.waitForLog(/relay .* unavailable/);
    rig.relay = relay = await new TestRelay(relay.options).start(port); // the same relay, back
    await rig.registered();

    await pollsAsMeant(d);
    relay.forgetOrchestrators();
    await rig.registered();
    expect(d.logs.some((l) => /no longer knows this orchestrator; registering again/.test(l))).toBe(true);

    relay.faults = [{ match: /^GET \/api\/messages$/, fault: { hang: true } }];
    // A long-poll is given up at its own bound: the poll's 25 s wait plus requestTimeoutMs.
    await d.waitForLog(longPoll ? /no answer within 25500 ms/ : /no answer within 500 ms/, longPoll ? 40_000 : 10_000);
    relay.faults = [{ match: /^GET \/api\/messages$/, fault: { raw: "{not json" } }];
    await d.waitForLog(/malformed JSON/);
    relay.faults = [];
    const id = relay.sendControl("box", { action: "spawn", label: "after-faults" });
    await waitFor("a control after the faults", () => relay.ackCount(id) === 1);
  });
});
